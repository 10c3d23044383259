"""The warehouse schema as an ordered list of migrations; the warehouse applies the missing ones.

Append a new migration to change the schema; never edit one that has shipped. The statements are written for
DuckDB; on DuckLake (remote profile) `ducklake_statement` drops PRIMARY KEY / UNIQUE constraints, which DuckLake
does not support: there, uniqueness comes from the writers (insert-where-not-exists under a write lock, see
storage/warehouse.py), so a key constraint may be relied on locally only as a second line of defence.
"""

from __future__ import annotations

import re

# Write-lock families: `Warehouse.write(fn, serialize=name)` bumps the one row of `write_lock_<name>` first, so
# that two registering transactions of one family conflict (and one is retried) instead of both inserting a key.
WRITE_LOCKS = ("datasets", "knowledge", "llm_cache", "evaluations")

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "data stage, stage runs",
        [
            """CREATE TABLE dataset_loads (
                load_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, source VARCHAR NOT NULL,
                revision VARCHAR, source_fingerprint VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL,
                config_hash VARCHAR NOT NULL, n_read INTEGER NOT NULL, n_accepted INTEGER NOT NULL,
                n_quarantined INTEGER NOT NULL, is_new_version BOOLEAN NOT NULL, loaded_at TIMESTAMP NOT NULL)""",
            """CREATE TABLE rl_rows (
                fingerprint VARCHAR NOT NULL, row_id VARCHAR NOT NULL, source_row INTEGER NOT NULL,
                question VARCHAR NOT NULL, answers VARCHAR[] NOT NULL, titles VARCHAR[] NOT NULL,
                split VARCHAR NOT NULL, PRIMARY KEY (fingerprint, row_id))""",
            """CREATE TABLE coldstart_rows (
                fingerprint VARCHAR NOT NULL, row_id VARCHAR NOT NULL, source_row INTEGER NOT NULL,
                prompt VARCHAR NOT NULL, response VARCHAR NOT NULL, split VARCHAR NOT NULL,
                PRIMARY KEY (fingerprint, row_id))""",
            """CREATE TABLE quarantine (
                load_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, source VARCHAR NOT NULL,
                source_row INTEGER NOT NULL, reason VARCHAR NOT NULL, raw VARCHAR)""",
            """CREATE TABLE stage_runs (
                run_id VARCHAR PRIMARY KEY, stage VARCHAR NOT NULL, cache_key VARCHAR NOT NULL,
                config_hash VARCHAR NOT NULL, ref VARCHAR NOT NULL, finished_at TIMESTAMP NOT NULL)""",
        ],
    ),
    (
        2,
        "knowledge store",
        [
            """CREATE TABLE knowledge_pages (
                store_key VARCHAR NOT NULL, title_key VARCHAR NOT NULL, title VARCHAR NOT NULL,
                n_passages INTEGER NOT NULL, source VARCHAR NOT NULL, PRIMARY KEY (store_key, title_key))""",
            """CREATE TABLE knowledge_passages (
                store_key VARCHAR NOT NULL, title_key VARCHAR NOT NULL, passage_idx INTEGER NOT NULL,
                text VARCHAR NOT NULL, PRIMARY KEY (store_key, title_key, passage_idx))""",
            """CREATE TABLE knowledge_coverage (
                store_key VARCHAR NOT NULL, data_fingerprint VARCHAR NOT NULL, title VARCHAR NOT NULL,
                found BOOLEAN NOT NULL)""",
            """CREATE TABLE knowledge_segments (
                store_key VARCHAR NOT NULL, segment_id VARCHAR NOT NULL, n_pages INTEGER NOT NULL,
                n_passages INTEGER NOT NULL, created_at TIMESTAMP NOT NULL, PRIMARY KEY (store_key, segment_id))""",
            """CREATE TABLE knowledge_searched (store_key VARCHAR NOT NULL, title_key VARCHAR NOT NULL)""",
            """CREATE TABLE knowledge_quarantine (
                store_key VARCHAR NOT NULL, title VARCHAR, reason VARCHAR NOT NULL)""",
        ],
    ),
    (
        3,
        "judge cache, training logs",
        [
            """CREATE TABLE llm_cache (
                cache_key VARCHAR PRIMARY KEY, backend VARCHAR NOT NULL, model VARCHAR NOT NULL,
                response VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL)""",
            """CREATE TABLE train_logs (
                run_key VARCHAR NOT NULL, stage VARCHAR NOT NULL, step INTEGER NOT NULL,
                metric VARCHAR NOT NULL, value DOUBLE, logged_at TIMESTAMP NOT NULL)""",
        ],
    ),
    (
        4,
        "evaluation",
        [
            """CREATE TABLE eval_items (
                eval_key VARCHAR NOT NULL, model_id VARCHAR NOT NULL, benchmark VARCHAR NOT NULL,
                benchmark_fingerprint VARCHAR NOT NULL, item_id VARCHAR NOT NULL, question VARCHAR NOT NULL,
                generation VARCHAR NOT NULL, answer VARCHAR, parse_status VARCHAR NOT NULL,
                grade VARCHAR, score DOUBLE, details VARCHAR, created_at TIMESTAMP NOT NULL,
                PRIMARY KEY (eval_key, item_id))""",
            """CREATE TABLE eval_metrics (
                eval_key VARCHAR NOT NULL, model_id VARCHAR NOT NULL, benchmark VARCHAR NOT NULL,
                metric VARCHAR NOT NULL, value DOUBLE, PRIMARY KEY (eval_key, metric))""",
        ],
    ),
    (
        5,
        "publishing",
        [
            """CREATE TABLE publications (
                publish_id VARCHAR PRIMARY KEY, repo_id VARCHAR NOT NULL, revision VARCHAR,
                model_artifact VARCHAR NOT NULL, bundle_artifact VARCHAR NOT NULL, metrics VARCHAR NOT NULL,
                pushed BOOLEAN NOT NULL, url VARCHAR, published_at TIMESTAMP NOT NULL)""",
        ],
    ),
    (
        6,
        "topic of RL rows",
        # The question's title string as in the data: the authors' retrieval topic (query = topic + " " + fact).
        ["ALTER TABLE rl_rows ADD COLUMN topic VARCHAR"],
    ),
    (
        7,
        "format compliance of evaluated outputs",
        ["ALTER TABLE eval_items ADD COLUMN followed_format BOOLEAN"],
    ),
    (
        8,
        "write locks for registering writes (several writers of one warehouse)",
        [
            statement
            for name in WRITE_LOCKS
            for statement in (
                f"CREATE TABLE write_lock_{name} (n BIGINT NOT NULL)",
                f"INSERT INTO write_lock_{name} VALUES (0)",
            )
        ],
    ),
    (
        9,
        "usage of judge, extractor and verifier endpoints per stage run",
        [
            """CREATE TABLE llm_usage (
                stage VARCHAR NOT NULL, run_key VARCHAR NOT NULL, role VARCHAR NOT NULL, backend VARCHAR NOT NULL,
                model VARCHAR NOT NULL, reported_models VARCHAR NOT NULL, calls BIGINT NOT NULL,
                cache_hits BIGINT NOT NULL, failures BIGINT NOT NULL, prompt_tokens BIGINT NOT NULL,
                completion_tokens BIGINT NOT NULL, recorded_at TIMESTAMP NOT NULL)""",
        ],
    ),
    (
        10,
        "curation: each RL question's k graded samples from a model",
        [
            """CREATE TABLE curate_questions (
                curate_key VARCHAR NOT NULL, model_id VARCHAR NOT NULL, rl_fingerprint VARCHAR NOT NULL,
                row_id VARCHAR NOT NULL, question VARCHAR NOT NULL, samples INTEGER NOT NULL,
                correct INTEGER NOT NULL, refused INTEGER NOT NULL, pass_rate DOUBLE NOT NULL,
                refusal_rate DOUBLE NOT NULL, agreement DOUBLE NOT NULL, bucket VARCHAR NOT NULL,
                answers VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL, PRIMARY KEY (curate_key, row_id))""",
        ],
    ),
    (
        11,
        "status of training runs: a GRPO run stopped by its health limits is marked, with the reason",
        [
            """CREATE TABLE train_runs (
                run_key VARCHAR PRIMARY KEY, stage VARCHAR NOT NULL, status VARCHAR NOT NULL, reason VARCHAR,
                step INTEGER, checkpoint VARCHAR, updated_at TIMESTAMP NOT NULL)""",
        ],
    ),
]

LATEST_VERSION = MIGRATIONS[-1][0]

_COLUMN_KEY = re.compile(r"\s+(PRIMARY\s+KEY|UNIQUE)\b(?!\s*\()", re.IGNORECASE)
_TABLE_KEY = re.compile(r",\s*(PRIMARY\s+KEY|UNIQUE)\s*\([^)]*\)", re.IGNORECASE)


def ducklake_statement(statement: str) -> str:
    """`statement` without PRIMARY KEY / UNIQUE constraints (column or table level), which DuckLake rejects."""
    return _COLUMN_KEY.sub("", _TABLE_KEY.sub("", statement))
