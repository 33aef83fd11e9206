"""The pieces of tools/gpu_check.py: what to run (plan), running it (commands), the training matrix
(training), the bench / evaluate / profile steps (measure), reading what the runs wrote (records)
and the report (report).

ganscale is driven only through its command line and the files its runs write, so the check keeps
working however the package is reorganised inside.
"""
