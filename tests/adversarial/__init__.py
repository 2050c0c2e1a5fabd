"""The adversarial suite: random schedules that combine what the guarantee tests check alone.

``_schedules.py`` is the schedule model (a JSON-serialisable description of one run, its
generators and what the run must produce), ``_runner.py`` the subprocess side that runs
schedules and checks each one, ``test_schedules_adversarial.py`` the pytest side that feeds
runner processes and reports failures.
"""
