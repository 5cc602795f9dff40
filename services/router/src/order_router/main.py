"""Entry point: ``router`` runs the service until SIGTERM/SIGINT."""

from oms_platform.service_runtime import run_service

from .bootstrap import bootstrap


def main() -> None:
    process, _ = bootstrap()
    run_service(process)


if __name__ == "__main__":
    main()
