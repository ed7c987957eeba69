"""The demo: weekly retraining with a warm-start chain, run through Airflow against the local backend.

``python -m airflow_hpt.demo`` (what ``scripts/demo`` runs) starts the local SageMaker backend, prepares
a fresh Airflow home under ``.demo/``, runs ``retrain_weekly`` for two consecutive weeks, prints a
report and writes ``.demo/objective.png``. See docs/demo.md.
"""
