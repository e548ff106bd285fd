"""`lingxi-vision`: run one replica of the vision service."""

from lingxi.runtime import serve

from lingxi_vision.app import app, service


def main() -> None:
    serve(app, service)


if __name__ == "__main__":
    main()
