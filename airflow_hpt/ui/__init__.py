"""The "Tuning job" view: a plugin of the provider, served by Airflow's api-server (docs/tuning-view.md)."""
