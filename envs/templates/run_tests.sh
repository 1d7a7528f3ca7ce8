#!/bin/sh
# Apply the task's patch (if any) to the working copy, then exec the test command given as
# arguments. Exit 97 means the patch did not apply: the run is void, not a test failure.
set -u
if [ -s /opt/synth/in/task.patch ]; then
  git apply --whitespace=nowarn /opt/synth/in/task.patch || exit 97
fi
exec "$@"
