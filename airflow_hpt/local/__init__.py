"""Local SageMaker tuning backend: runs and tunes real training scripts offline (no Airflow import)."""
