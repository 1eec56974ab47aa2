-- Dagster's run/event storage lives in its own database next to the knowledge base.
CREATE DATABASE dagster;
