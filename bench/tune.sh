#!/usr/bin/env bash
# Tuning runs for the default recipe (issue 4). Validation data only: the 7 training months,
# split 90/10 by headline hash; ArticlesMarch2018.csv (the test month) is not read here.
# Usage: bench/tune.sh NAME [train flags...]   -> runs/tune/NAME, log in runs/tune/NAME.log
# Summary: python bench/tune_report.py runs/tune/*
set -euo pipefail
D=${DATA_DIR:-../shared/data/nyt}
TRAIN=("$D"/ArticlesJan2017.csv "$D"/ArticlesFeb2017.csv "$D"/ArticlesMarch2017.csv "$D"/ArticlesApril2017.csv
       "$D"/ArticlesMay2017.csv "$D"/ArticlesJan2018.csv "$D"/ArticlesFeb2018.csv)
name=$1; shift
mkdir -p runs/tune
exec python -m lstm_textgen train --data "${TRAIN[@]}" --out "runs/tune/$name" --quiet "$@" > "runs/tune/$name.log" 2>&1
