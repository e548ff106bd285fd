"""`lingxi-personalization`: run one replica of the personalization service."""

from lingxi.runtime import serve

from lingxi_personalization.app import app, service


def main() -> None:
    serve(app, service)


if __name__ == "__main__":
    main()
