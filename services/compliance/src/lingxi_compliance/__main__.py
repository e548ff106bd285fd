"""`lingxi-compliance`: run one replica of the compliance service."""

from lingxi.runtime import serve

from lingxi_compliance.app import app, service


def main() -> None:
    serve(app, service)


if __name__ == "__main__":
    main()
