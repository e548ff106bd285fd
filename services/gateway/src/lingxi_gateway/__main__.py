"""`lingxi-gateway`: run one replica of the gateway service."""

from lingxi.runtime import serve

from lingxi_gateway.app import app, service


def main() -> None:
    serve(app, service)


if __name__ == "__main__":
    main()
