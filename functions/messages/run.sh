#!/bin/bash
# Started by the Lambda Web Adapter (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap), which then streams each
# invocation's response from this server (AWS_LWA_INVOKE_MODE=response_stream). The layer is /opt/python.
export PYTHONPATH="/opt/python:${LAMBDA_TASK_ROOT}:${PYTHONPATH}"
exec python -m uvicorn messages_function:app \
    --host 127.0.0.1 --port "${PORT:-8000}" --no-access-log --log-level warning --timeout-keep-alive 300
