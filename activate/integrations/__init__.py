"""What activate plugs into around it: dbt (models as sources, exposures), Dagster (assets), Airflow (operator).

Each module imports its tool lazily or only when imported itself: `activate --help` never pays for Dagster.
"""
