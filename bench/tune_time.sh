#!/usr/bin/env bash
# Tuning runs with a time-based split (issue 11). Validation data only: trained on six months
# (Jan-May 2017, Jan 2018), validated on the latest, Feb 2018; ArticlesMarch2018.csv (the test
# month) is not read here. Each run is then scored on the validation month beside Kneser-Ney
# models fitted on the same six months with the run's vocabulary (bench/quality.py).
# Usage: bench/tune_time.sh NAME [train flags...]  -> runs/tt/NAME, log runs/tt/NAME.log,
#        scores runs/tt/NAME.json
set -euo pipefail
D=${DATA_DIR:-../shared/data/nyt}
TRAIN=("$D"/ArticlesJan2017.csv "$D"/ArticlesFeb2017.csv "$D"/ArticlesMarch2017.csv "$D"/ArticlesApril2017.csv
       "$D"/ArticlesMay2017.csv "$D"/ArticlesJan2018.csv)
VAL=("$D"/ArticlesFeb2018.csv)
name=$1; shift
mkdir -p runs/tt
python -m lstm_textgen train --data "${TRAIN[@]}" --val-data "${VAL[@]}" --out "runs/tt/$name" --quiet "$@" \
    > "runs/tt/$name.log" 2>&1
python bench/quality.py --train "${TRAIN[@]}" --test "${VAL[@]}" --checkpoint "runs/tt/$name" --json \
    > "runs/tt/$name.json" 2>> "runs/tt/$name.log"
python - "runs/tt/$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
m = r["models"]
print(f"{sys.argv[1]}: val ppl {m['lstm']['ppl']:.1f}  KN4 {m['kn4']['ppl']:.1f}  ratio {m['lstm']['ppl'] / m['kn4']['ppl']:.3f}"
      f"  vocab {r['vocab_size']}  best epoch {m['lstm']['best_epoch']}/{m['lstm']['epochs']}")
PY
