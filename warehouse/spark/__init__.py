"""The Spark engine: the same parser and feature definitions as the DuckDB engine, on PySpark.

`session.spark_session` opens a session from the `spark` section of the configuration;
`dialect.spark_sql` translates the DuckDB SQL in which features are defined to Spark SQL, so a
definition is written once; `engine.SparkEngine` runs it over the warehouse (warehouse.sql_engine).
"""
