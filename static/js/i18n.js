// The scripts' strings in the page's language (docs/i18n.md): Django's JavaScript catalogue
// (/jsi18n/, loaded by base.html before any module) defines window.django; without it (a page that
// does not load it), the strings stay as written, in English.
const catalogue = window.django || {};

export const gettext = catalogue.gettext || ((text) => text);
export const ngettext = catalogue.ngettext || ((singular, plural, count) => (count === 1 ? singular : plural));
export const interpolate = catalogue.interpolate || ((format, values) => format.replace(/%\((\w+)\)s/g, (_, name) => String(values[name])));
// The page's language, for Intl (dates, times, numbers): <html lang>.
export const pageLanguage = document.documentElement.lang || "en";
