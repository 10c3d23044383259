"""The data stage's result: the RL set and the cold-start set as loaded into the warehouse."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from knowrl.pipeline.refs import StageRef


class DatasetPart(BaseModel):
    """One set of the data stage (the RL set or the cold-start set) as loaded into the warehouse."""

    fingerprint: str
    source: str
    revision: str | None
    load_id: str
    is_new_version: bool
    n_read: int
    n_accepted: int
    n_quarantined: int
    n_train: int
    n_heldout: int
    quarantine_reasons: dict[str, int]


class DataRef(StageRef):
    stage: Literal["data"] = "data"
    rl: DatasetPart
    coldstart: DatasetPart | None

    def headline(self) -> str:
        rl, cs = self.rl, self.coldstart
        return (
            f"RL {rl.n_accepted}/{rl.n_read} accepted ({rl.n_quarantined} quarantined), "
            f"cold-start {cs.n_accepted if cs else 0}/{cs.n_read if cs else 0}; new version: {rl.is_new_version}"
        )
