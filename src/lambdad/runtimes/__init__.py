"""The Runtime API served in every environment, and the built-in runtimes.

`EnvironmentSpec`/`InvokeRequest`/`InvokeOutcome` are the vocabulary of
`pool.environment.ExecutionEnvironment`; `lambda_environment` builds the
variables a function sees; `bootstraps/` holds the standalone files that run
inside the sandbox (the init serving the Runtime API, and the python/node
runtimes).
"""

from lambdad.runtimes.interpreters import InterpreterCatalog, RuntimeChoice
from lambdad.runtimes.launch import BOOTSTRAP_DIR, SandboxLayout
from lambdad.runtimes.output import DiscardOutput, OutputSink
from lambdad.runtimes.prepare import RuntimePreparationError, RuntimeStore
from lambdad.runtimes.spec import EnvironmentSpec, InvokeOutcome, InvokeRequest
from lambdad.runtimes.streaming import MAX_STREAMED_RESPONSE, BufferedResponse, ResponseStream
from lambdad.runtimes.variables import RESERVED_VARIABLES, lambda_environment

__all__ = [
    "BOOTSTRAP_DIR",
    "MAX_STREAMED_RESPONSE",
    "BufferedResponse",
    "DiscardOutput",
    "OutputSink",
    "RESERVED_VARIABLES",
    "ResponseStream",
    "EnvironmentSpec",
    "InterpreterCatalog",
    "InvokeOutcome",
    "InvokeRequest",
    "RuntimeChoice",
    "RuntimePreparationError",
    "RuntimeStore",
    "SandboxLayout",
    "lambda_environment",
]
