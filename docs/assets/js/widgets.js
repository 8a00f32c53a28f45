/* Entry point of the site's attention widgets (loaded as an ES module by mkdocs.yml): mounts every
 * element with data-attn-widget="<kind>" on each page view, including Material's instant
 * navigation. The code of each kind (attn/<kind>.js, named by the page's import map) loads only when
 * such a widget comes into view. */
import { start } from "attn/core.js";

start();
