from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from knowrl.evaluate.report import grade_chart, markdown_report
from knowrl.method.prompts import prompt_conversation
from knowrl.publish.card import redact_local_paths
from knowrl.publish.config import PublishConfig
from knowrl.publish.gate import GateConfigError, GateRefused, check_gate
from knowrl.publish.stage import run_publish_stage
from knowrl.registry import REGISTRY, load_recipe
from tests.conftest import REPO_ROOT
from tests.support import hub_clients
from tests.support.hub_server import HUB_DEFAULT_GITATTRIBUTES, LocalHubServer
from tests.support.refs import dataset_part, made_up_ref

TOKEN = "hf_test_token_that_must_never_be_written_123"
local_hub = hub_clients.local_hub  # the fixture: a local Hub with huggingface_hub pointed at it (no token, no Xet)


def _row(base: float, sft: float, grpo: float) -> dict:
    diff = lambda a, b: {"diff": a - b, "ci_low": a - b - 0.05, "ci_high": a - b + 0.05}  # noqa: E731
    return {
        "base": base,
        "sft": sft,
        "grpo": grpo,
        "grpo-sft": diff(grpo, sft),
        "grpo-base": diff(grpo, base),
        "sft-base": diff(sft, base),
    }


COMPARISON = {
    "simpleqa": {
        "kind": "qa",
        "items": 300,
        "metrics": {
            "incorrect_rate": _row(0.78, 0.7, 0.58),
            "correct_rate": _row(0.2, 0.21, 0.22),
            "not_attempted_rate": _row(0.02, 0.09, 0.2),
        },
    },
    "gpqa": {"kind": "mc", "items": 198, "metrics": {"accuracy": _row(0.41, 0.4, 0.37)}},
}
SUMMARY = "simpleqa: incorrect 0.70 -> 0.58 vs SFT"


@pytest.fixture
def refs(ctx, tiny_model_dir: Path) -> dict:
    """Upstream results as the stages leave them: the GRPO model and the evaluation report are artifacts in the
    store, named by id (the publish stage opens them by id, as a worker that did not produce them would)."""
    models = {"base": "base:org/base-model@main", "sft": "sft:sftfp", "grpo": "grpo:grpofp"}

    def trained(directory: Path) -> None:
        shutil.copytree(tiny_model_dir, directory / "merged")
        shutil.copytree(tiny_model_dir, directory / "adapter")

    def evaluation(directory: Path) -> None:
        (directory / "report.md").write_text(markdown_report(COMPARISON, models, SUMMARY))
        grade_chart(COMPARISON, directory / "grades.png")

    grpo = ctx.artifacts.write("grpo", trained)
    evaluate = ctx.artifacts.write("evaluate", evaluation)
    rl = dataset_part(
        "rlfp", source="zjunlp/KnowRL-Train-Data", revision="abc123", n_read=3177, n_accepted=3177, n_quarantined=0
    )
    ctx.recipe = _recipe()  # publish's spec `needs_recipe`: the task hands the run's recipe to the stage
    stored = {
        "data": {"stage": "data", "fingerprint": "datafp", "rl": rl, "coldstart": None},
        "sft": made_up_ref("sft", "sftfp"),
        "grpo": made_up_ref("grpo", grpo.artifact_id),
        "evaluate": {**made_up_ref("evaluate", evaluate.artifact_id), "comparison": COMPARISON},
    }
    return {stage: REGISTRY.result(stage, ref) for stage, ref in stored.items()}


def _recipe() -> dict:
    return load_recipe(REPO_ROOT / "recipes" / "knowrl-7b.yaml").model_dump(mode="json")


def test_gate_names_the_metric_and_force_overrides(ctx, refs) -> None:
    assert check_gate({"simpleqa.incorrect_rate": 0.0}, COMPARISON) == []
    violations = check_gate({"gpqa.accuracy": 0.01, "simpleqa.correct_rate": 0.5}, COMPARISON)
    assert violations == ["gpqa.accuracy: GRPO 0.370 vs baseline 0.410 (+0.040 worse, limit +0.010)"]
    cfg = PublishConfig(repo_id="org/model", gate={"gpqa.accuracy": 0.01})
    with pytest.raises(GateRefused, match=r"gpqa\.accuracy.*publish\.force=true"):
        run_publish_stage(cfg, refs, ctx)
    forced = run_publish_stage(cfg.model_copy(update={"force": True, "dry_run": True}), refs, ctx)
    assert forced.gate_violations == violations
    with pytest.raises(GateConfigError, match="was not evaluated"):
        check_gate({"aime.accuracy": 0.0}, COMPARISON)


def test_dry_run_writes_the_exact_bundle_with_a_complete_card(ctx, refs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    ref = run_publish_stage(PublishConfig(repo_id="org/knowrl-7b", dry_run=True), refs, ctx)
    bundle = Path(ref.bundle_path)
    assert not ref.pushed and bundle.is_dir()
    assert {
        "README.md",
        "grades.png",
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "knowrl_lineage.json",
    } <= {p.name for p in bundle.iterdir()}
    card = (bundle / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["license"] == "mit" and meta["base_model"] == "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"
    assert meta["datasets"] == ["zjunlp/KnowRL-Train-Data"] and meta["library_name"] == "transformers"
    assert meta["pipeline_tag"] == "text-generation" and "knowrl" in meta["tags"]
    results = meta["model-index"][0]["results"]
    assert {(r["dataset"]["name"], r["metrics"][0]["type"]) for r in results} >= {("simpleqa", "incorrect_rate")}
    for section in (
        "## Usage",
        "<think>",
        "## Training data",
        "rlfp",
        "abc123",
        "## Evaluation",
        "| simpleqa |",
        "## Recipe",
        "deepspeed: zero3",
        "## Limitations",
    ):
        assert section in card
    assert json.loads((bundle / "knowrl_lineage.json").read_text())["grpo"] == refs["grpo"].artifact_id
    assert SUMMARY in card and "/tmp/" not in card and "/work/" not in card  # no local folder in a public card
    redacted = redact_local_paths({"rl_source": "/work/demo/rl.jsonl", "base_model": "org/model", "n": [3, "~/x"]})
    assert redacted == {"rl_source": "local:rl.jsonl", "base_model": "org/model", "n": [3, "local:x"]}


def test_model_card_usage_snippet_runs_as_pasted(ctx, refs) -> None:
    ref = run_publish_stage(PublishConfig(repo_id="org/knowrl-7b", dry_run=True), refs, ctx)
    card = (Path(ref.bundle_path) / "README.md").read_text()
    snippet = card.split("```python\n", 1)[1].split("```", 1)[0]
    snippet = snippet.replace('"org/knowrl-7b"', repr(ref.bundle_path)).replace(
        "max_new_tokens=512", "max_new_tokens=2"
    )
    namespace: dict = {}
    exec(compile(snippet, "model-card-snippet", "exec"), namespace)  # builds the prompt, loads, generates
    # The card prompts the model as GRPO trained it: the recipe's prompt style, the same turns.
    style = ctx.recipe["grpo"]["prompt_style"]
    assert namespace["messages"] == prompt_conversation(namespace["question"], style)[0]
    assert f"`{style}` style" in card


def test_push_goes_through_the_hub_api_and_the_token_is_never_written(
    ctx, refs, home: Path, local_hub: LocalHubServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The real client pushes to the local Hub: the repo is created private, the card's metadata validated, the
    bundle's files arrive whole in one commit per run (the weights and the chart through LFS, uploaded once), the tag
    names that commit, and a download of the tag gives the bundle back."""
    from huggingface_hub import snapshot_download

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    cfg = PublishConfig(repo_id="org/knowrl-7b", private=True)
    first = run_publish_stage(cfg, refs, ctx)
    second = run_publish_stage(cfg, refs, ctx)  # the repo exists now: no error, a new commit
    hub = local_hub.state
    assert hub.unexpected == [] and hub.failed == []
    assert first.pushed and second.pushed and first.url.startswith(local_hub.endpoint) and first.tag.startswith("run-")
    assert hub.repos["org/knowrl-7b"]["visibility"] == "private"
    assert local_hub.state.hosted[("model", "org/knowrl-7b")].private

    bundle = Path(first.bundle_path)
    expected = {p.relative_to(bundle).as_posix(): p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    expected.pop("manifest.json")  # the artifact store's own file stays out of the commit
    assert len(hub.commits) == 2  # one commit per run
    assert hub.commits[0]["files"] == expected  # every file of the bundle, byte for byte, and nothing else
    assert {"README.md", "config.json", "model.safetensors", "grades.png"} <= set(expected)
    card = expected["README.md"].decode()
    assert hub.validated[0] == yaml.safe_load(card.split("---")[1]) and hub.validated[0]["license"] == "mit"
    assert SUMMARY in card and TOKEN not in card

    # Large and binary files go through LFS as the Hub asks: bytes to storage, then verified, once for both runs.
    lfs = {f["path"] for f in hub.preuploads if f["mode"] == "lfs"}
    assert {"model.safetensors", "grades.png"} <= lfs and "README.md" not in lfs and "config.json" not in lfs
    assert hub.commits[0]["lfs_files"] == sorted(lfs) == hub.commits[1]["lfs_files"]
    uploaded = sorted(u["oid"] for u in hub.lfs_uploads)
    assert uploaded == sorted(hashlib.sha256(expected[p]).hexdigest() for p in lfs)  # each once: the 2nd run skips
    storage = [r for r in hub.requests if r.cdn and r.method == "PUT"]
    assert len(storage) == len(lfs) and all(r.authorization == "" for r in storage)  # no token to the storage host

    assert hub.tags[0]["tag"] == first.tag and hub.tags[0]["revision"] == first.commit
    assert set(hub.auth_headers) == {f"Bearer {TOKEN}"}  # every write carried the token
    downloaded = Path(snapshot_download("org/knowrl-7b", revision=first.tag, token=TOKEN, cache_dir=tmp_path / "dl"))
    got = {p.relative_to(downloaded).as_posix(): p.read_bytes() for p in downloaded.rglob("*") if p.is_file()}
    assert got == {**expected, ".gitattributes": HUB_DEFAULT_GITATTRIBUTES.encode()}

    leaked = [p for p in home.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert leaked == []
    with ctx.warehouse.connect() as con:
        assert con.execute("SELECT count(*) FROM publications WHERE pushed").fetchall()[0][0] == 2


def test_a_token_without_write_access_fails_at_once_and_is_not_named(
    ctx, refs, local_hub: LocalHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Hub refuses a token it does not know (401): not a transient error, so no retry, and nothing is created.
    Without any token its write routes refuse too."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from knowrl.publish import hub
    from knowrl.publish.hub import PublishError

    waits: list[float] = []
    monkeypatch.setattr(hub, "_sleep", waits.append)
    local_hub.user_tokens = {"hf_the_owners_token"}
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with pytest.raises(
        PublishError, match=r"org/model failed at create_repo: HfHubHTTPError.*401.*write access"
    ) as info:
        run_publish_stage(PublishConfig(repo_id="org/model"), refs, ctx)
    assert TOKEN not in str(info.value) and not info.value.transient and waits == []
    assert local_hub.state.repos == {} and local_hub.state.commits == []
    with pytest.raises(HfHubHTTPError) as anonymous:
        HfApi(endpoint=local_hub.endpoint, token=False).create_repo("org/model", exist_ok=True)
    assert anonymous.value.response.status_code == 401 and local_hub.state.repos == {}


def test_push_failure_names_the_step_not_the_token(ctx, refs, monkeypatch: pytest.MonkeyPatch) -> None:
    from knowrl.publish import hub
    from knowrl.publish.hub import PublishError

    monkeypatch.setattr(hub, "_sleep", lambda _: None)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(PublishError, match="org/model failed at create_repo") as info:
        run_publish_stage(PublishConfig(repo_id="org/model"), refs, ctx)
    assert TOKEN not in str(info.value)


def test_no_token_without_dry_run_fails_with_the_fix_before_writing(
    ctx, refs, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from knowrl.errors import ConfigError

    monkeypatch.delenv("KNOWRL_PUBLISH_TOKEN", raising=False)
    cfg = PublishConfig(repo_id="org/model", token_env="KNOWRL_PUBLISH_TOKEN")
    with pytest.raises(ConfigError) as info:
        run_publish_stage(cfg, refs, ctx)
    message = str(info.value)
    assert "$KNOWRL_PUBLISH_TOKEN is not set" in message and "publish.dry_run=true" in message
    assert "\n" not in message
    assert not (home / "artifacts" / "publish").exists()  # no bundle was written
    with ctx.warehouse.connect() as con:
        assert con.execute("SELECT count(*) FROM publications").fetchall()[0][0] == 0


def test_transient_hub_errors_are_retried_with_backoff(
    local_hub: LocalHubServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The Hub answers 503 to the first two create_repo calls and to every create_tag: the push retries each step
    with the backoff, commits once, and gives up at the tag naming the step, the tries and what to do."""
    from knowrl.errors import BackendError
    from knowrl.publish import hub

    waits: list[float] = []
    monkeypatch.setattr(hub, "_sleep", waits.append)
    local_hub.fail("POST", "/api/repos/create", 503, times=2)
    local_hub.fail("POST", "/api/models/org/model/tag/", 503, times=None)
    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\ncard")
    with pytest.raises(BackendError, match=r"failed at create_tag after 3 tries: HfHubHTTPError: .*503.*retry later"):
        hub.push_folder(tmp_path, "org/model", TOKEN, True, "run-1", "msg")
    assert waits == [1.0, 2.0, 1.0, 2.0]
    assert [f.split(" -> ")[0] for f in local_hub.state.failed] == ["POST /api/repos/create"] * 2 + [
        "POST /api/models/org/model/tag/" + local_hub.state.commits[0]["oid"]
    ] * 3
    assert len(local_hub.state.commits) == 1 and local_hub.state.commits[0]["files"]["README.md"].endswith(b"card")
    assert local_hub.state.tags == []
