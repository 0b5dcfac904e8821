"""npm reader (packages/npm.py): name and version from package.json."""

from layerscope.packages import Budget, npm


def test_name_version_location():
    pkgs, notes = npm.read({"app/node_modules/@types/node/package.json": b'{"name": "@types/node", "version": "20.1.0"}',
                            "app/node_modules/left-pad/package.json": b'{"name": "left-pad", "version": "1.3.0"}'},
                           Budget())
    assert notes == []
    assert [(p.name, p.version, p.location, p.files) for p in pkgs] == [
        ("@types/node", "20.1.0", "app/node_modules", ["app/node_modules/@types/node"]),
        ("left-pad", "1.3.0", "app/node_modules", ["app/node_modules/left-pad"])]


def test_not_json_is_named_by_its_directory():
    pkgs, notes = npm.read({"node_modules/x/package.json": b"[" * 100_000}, Budget())
    assert (pkgs[0].name, pkgs[0].version) == ("x", "")
    assert notes == ["npm: 1 package.json file(s) are not JSON objects; named by their directory"]
