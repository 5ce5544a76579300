"""The seed's market ranking: `python scripts/suggest_market_targets.py --top 10
[--target-symbol SYMBOL]`. The logic is adapters/lighter/suggest_markets.py."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from a checkout without installing

from adapters.lighter.suggest_markets import main  # noqa: E402

raise SystemExit(main())
