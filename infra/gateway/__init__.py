"""The local OpenFaaS runtime: our gateway, and each function of stack.yml as a process.

    stackfile  reads stack.yml (with faas-cli's ${VAR:-default} substitution)
    settings   the gateway's settings, from the environment
    app        the gateway's HTTP API (the routes faas-cli and the connectors call)
    asyncq     /async-function: the on-disk queue and its bounded worker pool
    runtime    how each function process is launched and probed under supervisord
"""
