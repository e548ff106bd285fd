"""`lingxi-maintenance`: run one replica of the maintenance service."""

from lingxi.runtime import serve

from lingxi_maintenance.app import app, service


def main() -> None:
    serve(app, service)


if __name__ == "__main__":
    main()
