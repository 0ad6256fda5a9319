// The app's texts come from the server's gettext catalog (/app/i18n/<lang>.json): the msgid is
// the English source, the value its translation. Chinese unless the browser prefers English.
let catalog = {};

export function chooseLanguage(languages, fallback) {
  for (const tag of navigator.languages || [navigator.language || ""]) {
    const primary = String(tag).toLowerCase().split("-")[0];
    if (languages.includes(primary)) return primary;
  }
  return fallback;
}

export async function loadTexts(language, version) {
  const resp = await fetch(`/app/i18n/${language}.json?v=${version}`);
  catalog = await resp.json();
  document.documentElement.lang = language === "zh" ? "zh-CN" : language;
}

// gettext with the server's named placeholders: %(code)s takes values.code.
export function t(msgid, values = {}) {
  const text = catalog[msgid] ?? msgid;
  return text.replace(/%\((\w+)\)[sdr]/g, (m, name) => (name in values ? String(values[name]) : m));
}
