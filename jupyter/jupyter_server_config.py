"""`make lab`'s server settings: notebooks open unmodified.

JupyterLab writes the kernel's language_info (with the Python version) and the kernel's display name into
a notebook as soon as its kernel connects; a committed notebook cannot carry every machine's Python
version, so it would open marked modified. The server hands notebooks out with what this machine's
kernel will report already in place (the file on disk is not touched until you save)."""

import platform

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager


class KernelMetadataContents(AsyncLargeFileManager):
    async def get(self, path, content=True, type=None, format=None, **kwargs):
        model = await super().get(path, content=content, type=type, format=format, **kwargs)
        if content and model.get("type") == "notebook" and model.get("content") is not None:
            meta = model["content"].setdefault("metadata", {})
            spec = meta.get("kernelspec") or {}
            if spec.get("name") == "python3" and spec.get("language", "python") == "python":
                meta["kernelspec"] = {**spec, "display_name": self._display_name(spec), "language": "python"}
                meta["language_info"] = {
                    "codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                    "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                    "pygments_lexer": "ipython3", "version": platform.python_version()}
        return model

    def _display_name(self, spec: dict) -> str:
        try:
            return self.parent.kernel_spec_manager.get_kernel_spec(spec["name"]).display_name
        except Exception:  # no such kernel here: the notebook's own name
            return spec.get("display_name", "Python 3 (ipykernel)")


c = get_config()  # noqa: F821  (jupyter's config loader defines it)
c.ServerApp.contents_manager_class = KernelMetadataContents
