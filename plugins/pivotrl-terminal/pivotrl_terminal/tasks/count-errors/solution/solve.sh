#!/bin/bash
grep -c ERROR logs/app.log > error_count.txt
