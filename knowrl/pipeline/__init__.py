"""The pipeline kernel: the stage registry and cache keys (stages), a run's plan (plan), what a stage receives
(runtime: paths, storage, progress), what it returns (refs: one typed result per stage) and which stages a run
would reuse (status). No Prefect here: tasks/ and flows/
wrap it; every function is given its `Paths` instead of reading the environment."""
