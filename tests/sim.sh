#!/usr/bin/env bash
# Runs Hangar in the deterministic simulation of AWS (tests/sim): the real
# library under the real SDK against models of DynamoDB, SQS, Lambda's SQS
# event source mapping and the scheduler, in virtual time, from one seed.
# Usage: tests/sim.sh [--seeds N | --seed S] [--jobs J] [--twice] [--parallel P]
#   --twice runs each seed again and fails if its trace differs;
#   --parallel runs P seeds at once, one a thread.
#        tests/sim.sh --scale [--shards S] [--rates R,R..] [--seconds D]
#   fire-and-forget jobs at each rate on a stack of S shards: what a stack
#   takes before throttling holds it back.
#        tests/sim.sh --cost | --tick-table N | --bulk N [--rate R]
#   the cost table's scenarios billed by the model; the timer's tick on a
#   table of N finished jobs; a bulk requeue of N Failed jobs at R a second.
# A failing seed prints the tail of its trace and the command that replays
# it; SIM_TRACE=FILE writes a seed's whole trace.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo run --locked --quiet -p hangar-sim --bin sim -- "$@"
