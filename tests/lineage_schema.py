"""Validate emitted OpenLineage run facets against the facet schema shipped in the package.

The facet's ``_schemaURL`` is resolved, not assumed: the schema is registered under its ``$id`` and
the OpenLineage spec's own ``RunFacet``/``BaseFacet`` definitions under the spec's URL, so a
``_schemaURL`` that points nowhere, or a facet the schema refuses, fails the check.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

_SPEC_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
# The two definitions of the OpenLineage 2-0-2 spec a run facet refers to (spec/OpenLineage.json
# in the OpenLineage repository), kept here as the machine is offline.
_SPEC_EXCERPT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": _SPEC_URL,
    "$defs": {
        "BaseFacet": {
            "type": "object",
            "properties": {
                "_producer": {"type": "string", "format": "uri"},
                "_schemaURL": {"type": "string", "format": "uri"},
            },
            "additionalProperties": True,
            "required": ["_producer", "_schemaURL"],
        },
        "RunFacet": {
            "type": "object",
            "allOf": [{"$ref": "#/$defs/BaseFacet"}, {"type": "object", "additionalProperties": True}],
        },
    },
}


def _registry() -> Registry:
    shipped = json.loads(
        resources.files("airflow_hpt").joinpath("schemas/AirflowHptTuningJobRunFacet.json").read_text()
    )
    return Registry().with_resources(
        [
            (shipped["$id"], Resource.from_contents(shipped)),
            (_SPEC_URL, Resource.from_contents(_SPEC_EXCERPT)),
        ]
    )


def facet_errors(facet: dict[str, Any]) -> list[str]:
    """What the schema named by the facet's own ``_schemaURL`` says is wrong with it (empty: valid)."""
    registry = _registry()
    schema = registry.resolver().lookup(facet["_schemaURL"]).contents
    validator = Draft202012Validator(schema, registry=registry)
    return [
        f"{'.'.join(map(str, error.path)) or '<facet>'}: {error.message}"
        for error in validator.iter_errors(facet)
    ]
