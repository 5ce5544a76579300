"""Each proposed threshold, replayed: `policy diff` of the policies against a copy with one param changed.

The copy is written into the report (`suggestions/<policy.param>=<value>/policies/`) beside its
`diff.md` and `diff.json`, so a trader can rerun the same check (`lighter-bot policy diff
policies REPORT/suggestions/.../policies --data ...`) and promote the file by copying it. The
policies' own replay (A) runs once and is reused for every proposal. A proposal is recommended
only when the replay agrees: mark-to-market PnL up (realized PnL alone can rise while the
inventory left open loses more).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rules.loader import load_texts, read_policy_texts
from runtime.catalog import FEATURE_NAMES
from runtime.service import policy_diff
from runtime.service.regimes.suggest import Suggestion


@dataclass(frozen=True)
class Verdict:
    suggestion: Suggestion
    diff: dict[str, Any]            # policy diff's diff.json document
    folder: Path | None             # where the edited policies and the diff were written

    @property
    def mtm_delta(self) -> float:
        return self.diff["metrics"]["mtm_pnl"]["delta"]

    @property
    def realized_delta(self) -> float:
        return self.diff["metrics"]["realized_pnl"]["delta"]

    @property
    def recommended(self) -> bool:
        return self.mtm_delta > 0

    def to_dict(self) -> dict:
        return {"suggestion": self.suggestion.key, "proposed": self.suggestion.proposed,
                "mtm_pnl_delta": self.mtm_delta, "realized_pnl_delta": self.realized_delta,
                "fills_delta": self.diff["metrics"]["fills"]["delta"], "recommended": self.recommended,
                "differing_ticks": self.diff["ticks"]["differing_ticks"],
                "folder": str(self.folder) if self.folder else None}


def current_params(texts: list[tuple[Path | str, str]]) -> dict[str, float]:
    """`policy.param` -> value for every numeric param of the policy files."""
    out = {}
    for _, text in texts:
        doc = yaml.safe_load(text) or {}
        for name, value in (doc.get("params") or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[f"{doc.get('policy')}.{name}"] = float(value)
    return out


def edited_texts(texts: list[tuple[Path | str, str]], policy: str, param: str, value: float
                 ) -> list[tuple[Path | str, str]]:
    """The policy files with `param` of `policy` set to `value`, every other byte (comments) kept."""
    out = []
    done = False
    pattern = re.compile(rf"^(\s+{re.escape(param)}:\s*)(-?[0-9][0-9.]*)", re.MULTILINE)
    for path, text in texts:
        if (yaml.safe_load(text) or {}).get("policy") == policy:
            text, count = pattern.subn(lambda m: f"{m.group(1)}{value:g}", text, count=1)
            done = count == 1
        out.append((path, text))
    if not done:
        raise ValueError(f"{policy}.{param}: not found as a numeric param in the policy files")
    return out


def verify(suggestions: list[Suggestion], policies_dir: Path, config, data, backend, step: float,
           report_dir: Path | None) -> list[Verdict]:
    texts = read_policy_texts([policies_dir])
    base = load_texts(texts, FEATURE_NAMES)
    baseline = None
    verdicts = []
    for s in suggestions:
        edited = edited_texts(texts, s.policy, s.param, s.proposed)
        folder = None
        if report_dir is not None:
            folder = report_dir / "suggestions" / f"{s.key}={s.proposed:g}"
            (folder / "policies").mkdir(parents=True, exist_ok=True)
            for path, text in edited:
                (folder / "policies" / Path(path).name).write_text(text)
        spec_b = str(folder / "policies") if folder else f"{policies_dir} with {s.key} = {s.proposed:g}"
        out, baseline, _, _ = policy_diff.diff_sets(config, data, backend, (str(policies_dir), base),
                                                    (spec_b, load_texts(edited, FEATURE_NAMES)), step, baseline)
        if folder is not None:
            (folder / "diff.json").write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
            (folder / "diff.md").write_text(policy_diff.render(out) + "\n")
        verdicts.append(Verdict(s, out, folder))
    return verdicts
