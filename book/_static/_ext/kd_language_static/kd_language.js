// The language switch (kd_language.py) is one of sphinx-book-theme's header link buttons,
// which open in a new tab; switching language should replace the page, as on d2l.ai.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("a.kd-language-switch").forEach((a) => a.removeAttribute("target"));
});
