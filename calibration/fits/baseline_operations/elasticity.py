"""Elasticity of actual offences to State police officers (+30 % budget, as the evidence design
experiments/evidence/police_numbers.yaml scales officers and units), paired seeds, for one or
more overlay scenarios. Usage: elasticity.py OUT.json LABEL=OVERLAY.yaml [...]"""
import json, sys
from concurrent.futures import ProcessPoolExecutor
import numpy as np
from simulator.scenario.loader import load_scenario
from simulator.runner import run
from simulator.batch.effects import elasticity

import os
SEEDS = [int(x) for x in os.environ.get("SEEDS", "1,2,3,4").split(",")]
RUN = [f"run.days={os.environ.get('DAYS', '90')}", "run.warmup_days=7"]
ARMS = {"reference": [], "plus_30": ["agencies.state_police.budget_eur=27300000"]}

def get(d, key):
    for k in key.split("."):
        d = d[k]
    return d

def one(job):
    label, spec, arm, seed = job
    path, *sets = spec.split(";")
    sc = load_scenario(path, RUN + sets + ARMS[arm])
    s = run(sc, seed).summary.model_dump(mode="json")
    out = {k: get(s, k) for k in ["officers.state_police", "offences.actual_per_1000",
           "offences.recorded_per_1000", "road_share.state_police", "officers.pm_centre",
           "response_min.by_agency.pm_centre.n", "response_min.by_agency.state_police.n",
           "response_min.by_agency.state_police.mean", "residents"]}
    out["days"] = s["days"]
    return label, arm, seed, out

if __name__ == "__main__":
    out_path = sys.argv[1]
    points = dict(a.split("=", 1) for a in sys.argv[2:])
    jobs = [(l, p, a, s) for l, p in points.items() for a in ARMS for s in SEEDS]
    res = {}
    with ProcessPoolExecutor(2) as ex:
        for label, arm, seed, out in ex.map(one, jobs):
            res.setdefault(label, {}).setdefault(arm, {})[seed] = out
            print(label, arm, seed, out["officers.state_police"], out["offences.actual_per_1000"], flush=True)
    table = {}
    for label, arms in res.items():
        r = [arms["reference"][s] for s in SEEDS]; t = [arms["plus_30"][s] for s in SEEDS]
        v = lambda rows, k: np.array([x[k] for x in rows], float)
        e = elasticity(v(t, "offences.actual_per_1000"), v(r, "offences.actual_per_1000"),
                       v(t, "officers.state_police"), v(r, "officers.state_police"))
        yr = 365 / r[0]["days"]
        table[label] = {
            "elasticity": e.value, "low": e.low, "high": e.high, "n": e.n,
            "officers_ref": v(r, "officers.state_police").mean(),
            "officers_plus": v(t, "officers.state_police").mean(),
            "actual_per_1000_year": v(r, "offences.actual_per_1000").mean(),
            "recorded_per_1000_year": v(r, "offences.recorded_per_1000").mean(),
            "road_share": v(r, "road_share.state_police").mean(),
            "pm_per_officer_year": (v(r, "response_min.by_agency.pm_centre.n") / v(r, "officers.pm_centre")).mean() * yr,
            "sp_calls_per_1000_year": (v(r, "response_min.by_agency.state_police.n") / v(r, "residents")).mean() * 1000 * yr,
            "sp_response_min": v(r, "response_min.by_agency.state_police.mean").mean(),
        }
        print(label, json.dumps(table[label]), flush=True)
    json.dump({"table": table, "runs": res}, open(out_path, "w"), indent=1, default=str)
