#!/usr/bin/env bash
# One install path for users, CI and the Dockerfile: a venv with Millstream,
# its compiled modules (the netting kernel, the event id table) and the test tools.  Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${MILLSTREAM_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --upgrade pip
# Build the Cython kernel in place; a failed compile fails the install.
"$VENV/bin/pip" install -q -e ".[test]"
MILLSTREAM_REQUIRE_COMPILED=1 "$VENV/bin/python" -c \
  "from core import netting; from core.ids import id_table; assert netting.COMPILED, 'compiled kernel missing'; id_table('cython'); print('millstream installed; netting kernel and id table: compiled')"
