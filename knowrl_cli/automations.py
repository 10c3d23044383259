"""The automation `knowrl stack up` installs on its Prefect server: a flow run whose heartbeats stop is Crashed."""

from __future__ import annotations

HEARTBEAT_S = 30  # flow runs' heartbeats (Prefect's minimum; its default is 180)
CRASH_AFTER_S = 3 * HEARTBEAT_S  # three missed heartbeats: the run's process is gone
ZOMBIE_AUTOMATION = "knowrl-crash-unresponsive-flow-runs"

# Marks a flow run Crashed once its heartbeats stop (Prefect's documented zombie-run automation): a worker or machine
# that died otherwise leaves its flow run Running for ever, holding its deployment's concurrency slot.
ZOMBIE_AUTOMATION_SPEC = {
    "name": ZOMBIE_AUTOMATION,
    "description": f"A flow run with no heartbeat for {CRASH_AFTER_S} s is Crashed (its process is gone).",
    "trigger": {
        "type": "event",
        "posture": "Proactive",
        "after": ["prefect.flow-run.heartbeat"],
        "expect": [
            "prefect.flow-run.heartbeat",
            "prefect.flow-run.Completed",
            "prefect.flow-run.Failed",
            "prefect.flow-run.Cancelled",
            "prefect.flow-run.Crashed",
        ],
        "match": {"prefect.resource.id": ["prefect.flow-run.*"]},
        "for_each": ["prefect.resource.id"],
        "threshold": 1,
        "within": CRASH_AFTER_S,
    },
    "actions": [
        {
            "type": "change-flow-run-state",
            "state": "CRASHED",
            "message": f"no heartbeat for {CRASH_AFTER_S} s: the flow run's process, worker or machine is gone",
        }
    ],
}
