"""`lingxi-assistant`: run one replica of the assistant service."""

from lingxi.runtime import serve

from lingxi_assistant.app import app, service


def main() -> None:
    serve(app, service)


if __name__ == "__main__":
    main()
