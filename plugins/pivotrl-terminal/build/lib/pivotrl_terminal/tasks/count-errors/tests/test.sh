#!/bin/bash
# Runs in the work dir after the agent finished (Harbor: tests at /tests, the reward to /logs/verifier).
if python3 /tests/check_outputs.py; then
  echo 1 > /logs/verifier/reward.txt
else
  echo 0 > /logs/verifier/reward.txt
fi
