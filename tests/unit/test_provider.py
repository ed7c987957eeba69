from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from airflow_hpt import get_provider_info
from airflow_hpt.links.tuning import TuningJobLink, view_url


def test_provider_is_registered_and_its_modules_import() -> None:
    registered = [
        ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("airflow_hpt")
    ]
    assert len(registered) == 1
    info = registered[0].load()()
    assert info == get_provider_info()
    assert info["package-name"] == "airflow-hpt"
    for kind in ("operators", "sensors", "hooks", "triggers"):
        for module in info[kind][0]["python-modules"]:
            importlib.import_module(module)
    module_name, _, class_name = info["extra-links"][0].rpartition(".")
    assert getattr(importlib.import_module(module_name), class_name) is TuningJobLink


def test_every_task_and_trigger_module_is_listed() -> None:
    """Each module of operators/, sensors/ and triggers/ that defines a concrete task or trigger class."""
    import inspect
    import pkgutil

    from airflow.sdk import BaseOperator
    from airflow.triggers.base import BaseTrigger

    info = get_provider_info()
    for kind, base in (("operators", BaseOperator), ("sensors", BaseOperator), ("triggers", BaseTrigger)):
        package = importlib.import_module(f"airflow_hpt.{kind}")
        defining = set()
        for found in pkgutil.iter_modules(package.__path__, f"airflow_hpt.{kind}."):
            module = importlib.import_module(found.name)
            if any(
                issubclass(value, base) and value.__module__ == found.name and not inspect.isabstract(value)
                for value in vars(module).values()
                if inspect.isclass(value)
            ):
                defining.add(found.name)
        assert defining == set(info[kind][0]["python-modules"]), kind


def test_console_link_is_partition_and_region_aware() -> None:
    link = TuningJobLink()
    url = link.format_link(region_name="eu-west-1", aws_domain=link.get_aws_domain("aws"), job_name="tune-1")
    assert url == "https://console.aws.amazon.com/sagemaker/home?region=eu-west-1#/hyper-tuning-jobs/tune-1"
    china = link.format_link(region_name="cn-north-1", aws_domain=link.get_aws_domain("aws-cn"), job_name="t")
    assert china.startswith("https://console.amazonaws.cn/")


def test_on_another_endpoint_the_link_opens_the_tuning_view() -> None:
    link = TuningJobLink()
    view = "/hpt/tuning/d/manual__2026-12-04T10%3A00%3A00%2B00%3A00/tune?map_index=-1"
    assert link.format_link(region_name="us-east-1", aws_domain=None, job_name="t", view_url=view) == view
    assert view_url("d", "manual__2026-12-04T10:00:00+00:00", "tune", -1) == view


def test_the_package_registers_the_tuning_view_plugin() -> None:
    (plugin,) = [ep for ep in entry_points(group="airflow.plugins") if ep.value.startswith("airflow_hpt")]
    plugin_class = plugin.load()
    assert plugin_class.name == plugin.name
    # once only: provider plugins would load it a second time (with lazy_load_providers off)
    assert "plugins" not in get_provider_info()
    (app,) = plugin_class.fastapi_apps
    assert app["url_prefix"] == "/hpt"
    (view,) = plugin_class.external_views
    assert view["destination"] == "task_instance" and view["url_route"]
    assert view["href"] == "/hpt/tuning/{DAG_ID}/{RUN_ID}/{TASK_ID}?map_index={MAP_INDEX}"
