"""A stand-in for the `modal` package that records what an app script declares.

Signatures mirror the real Modal Python API (keyword-only where Modal's are), so an
argument the real library would reject fails here too. Nothing talks to Modal.
"""

import importlib.util

apps = []  # every App constructed since the last reset()


def reset():
    """Forget every recorded App."""
    apps.clear()


class InvalidError(Exception):
    """Raised where the real library raises modal.exception.InvalidError."""


class Image:
    """An image definition: a base plus recorded build steps."""

    def __init__(self, base, steps=(), sealed=False):
        self.base = base
        self.steps = list(steps)
        self._sealed = sealed  # local files mounted at start: no build step may follow

    @staticmethod
    def debian_slim(python_version=None, force_build=False):
        return Image(("debian_slim", {"python_version": python_version}))

    @staticmethod
    def from_registry(tag, secret=None, *, setup_dockerfile_commands=(), force_build=False, add_python=None):
        return Image(("from_registry", {"tag": tag, "add_python": add_python}))

    def _then(self, name, args, kwargs, seals=False):
        if self._sealed:
            raise InvalidError(
                f"image.{name}() after image.add_local_*(copy=False): local files must be the last step"
            )
        return Image(self.base, self.steps + [(name, args, kwargs)], sealed=seals)

    def entrypoint(self, entrypoint_commands):
        return self._then("entrypoint", (list(entrypoint_commands),), {})

    def pip_install(self, *packages, find_links=None, index_url=None, extra_index_url=None, pre=False,
                    extra_options="", force_build=False, env=None, secrets=None, gpu=None):
        return self._then("pip_install", packages, {"extra_index_url": extra_index_url})

    def uv_pip_install(self, *packages, requirements=None, find_links=None, index_url=None, extra_index_url=None,
                       pre=False, extra_options="", force_build=False, uv_version=None, env=None, secrets=None,
                       gpu=None):
        return self._then("uv_pip_install", packages, {"extra_index_url": extra_index_url})

    def run_commands(self, *commands, env=None, secrets=(), gpu=None, force_build=False):
        if not all(isinstance(c, str) for c in commands):
            raise InvalidError("Image.run_commands: commands must be strings")
        return self._then("run_commands", commands, {})

    def env(self, vars):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in vars.items()):
            raise InvalidError("Image.env: keys and values must be strings")
        return self._then("env", (dict(vars),), {})

    def add_local_file(self, local_path, remote_path, *, copy=False):
        return self._then("add_local_file", (str(local_path), remote_path), {"copy": copy}, seals=not copy)

    def add_local_python_source(self, *modules, copy=False, ignore=None):
        for module in modules:
            if importlib.util.find_spec(module) is None:
                raise InvalidError(f"add_local_python_source: no module named {module!r} on this machine")
        return self._then("add_local_python_source", modules, {"copy": copy}, seals=not copy)


class Volume:
    """A named volume reference."""

    def __init__(self, name, environment_name, create_if_missing):
        self.name = name
        self.environment_name = environment_name
        self.create_if_missing = create_if_missing

    @staticmethod
    def from_name(name, *, namespace=None, environment_name=None, create_if_missing=False, version=None,
                  client=None):
        return Volume(name, environment_name, create_if_missing)


class Secret:
    """A named secret reference."""

    def __init__(self, name, environment_name):
        self.name = name
        self.environment_name = environment_name

    @staticmethod
    def from_name(name, *, namespace=None, environment_name=None, required_keys=(), client=None):
        return Secret(name, environment_name)


class _Partial:
    """What modal.web_server / modal.concurrent return: the raw function plus settings."""

    def __init__(self, raw_f):
        self.raw_f = raw_f
        self.web_server = None
        self.concurrent = None


class Function:
    """A registered function with everything its decorators said."""

    def __init__(self, partial, options):
        self.options = options
        self.web_server = partial.web_server
        self.concurrent = partial.concurrent
        self._raw_f = partial.raw_f

    def get_raw_f(self):
        return self._raw_f


def web_server(port, *, startup_timeout=5.0, label=None, custom_domains=None, requires_proxy_auth=False):
    # modal-labs/modal-client py/modal/_partial_function.py _web_server: requires_proxy_auth
    # "Require Modal-Key and Modal-Secret HTTP Headers on requests", default False.
    if not isinstance(port, int) or startup_timeout <= 0:
        raise InvalidError("web_server: port must be an int and startup_timeout positive")
    if not isinstance(requires_proxy_auth, bool):
        raise InvalidError("web_server: requires_proxy_auth must be a bool")

    def wrap(f):
        if isinstance(f, (Function, _Partial)):
            raise InvalidError("@modal.web_server must be the innermost decorator")
        p = _Partial(f)
        p.web_server = {"port": port, "startup_timeout": startup_timeout, "requires_proxy_auth": requires_proxy_auth}
        return p

    return wrap


def concurrent(_warn_parentheses_missing=None, *, max_inputs, target_inputs=None):
    if _warn_parentheses_missing is not None:
        raise InvalidError("use @modal.concurrent(max_inputs=...)")

    def wrap(f):
        if isinstance(f, Function):
            raise InvalidError("@modal.concurrent must sit below @app.function")
        p = f if isinstance(f, _Partial) else _Partial(f)
        p.concurrent = {"max_inputs": max_inputs, "target_inputs": target_inputs}
        return p

    return wrap


class App:
    """An app: its name and the functions registered on it."""

    def __init__(self, name=None, *, tags=None, image=None, secrets=(), volumes=None, include_source=True):
        self.name = name
        self.functions = {}
        apps.append(self)

    def function(self, _warn_parentheses_missing=None, *, image=None, schedule=None, env=None, secrets=(),
                 gpu=None, serialized=False, network_file_systems=None, volumes=None, cpu=None, memory=None,
                 ephemeral_disk=None, min_containers=None, max_containers=None, buffer_containers=None,
                 scaledown_window=None, proxy=None, retries=None, timeout=None, startup_timeout=None, name=None,
                 is_generator=None, cloud=None, region=None, enable_memory_snapshot=False, block_network=False,
                 restrict_modal_access=False, single_use_containers=False, i6pn=None, include_source=None,
                 experimental_options=None):
        if _warn_parentheses_missing is not None:
            raise InvalidError("use @app.function(...) with parentheses")
        options = {
            "image": image, "gpu": gpu, "volumes": volumes or {}, "secrets": list(secrets),
            "scaledown_window": scaledown_window, "timeout": timeout, "startup_timeout": startup_timeout,
            "min_containers": min_containers, "max_containers": max_containers,
        }

        options["serialized"] = serialized

        def wrap(f):
            partial = f if isinstance(f, _Partial) else _Partial(f)
            # py/modal/app.py function(): a function that is not serialized must be defined in
            # global scope ("<locals>" in its qualname is refused); name= overrides the tag.
            if not serialized and "<locals>" in partial.raw_f.__qualname__:
                raise InvalidError("functions must be defined in global scope unless serialized=True")
            tag = name if name is not None else partial.raw_f.__qualname__
            if tag in self.functions:
                raise InvalidError(f"duplicate function tag {tag!r}")
            fn = Function(partial, options)
            self.functions[tag] = fn
            return fn

        return wrap
