// Starts swagger-ui on fmn's /api/docs page (ui/docs.go): a file, not an inline
// script, so the page's Content-Security-Policy can allow scripts from 'self' only.
/* global SwaggerUIBundle */
;(function () {
  var el = document.getElementById('swagger-ui')
  if (!el || typeof SwaggerUIBundle !== 'function') return
  window.ui = SwaggerUIBundle({
    url: el.getAttribute('data-url') || '/api/v1/openapi.json',
    domNode: el,
    deepLinking: true,
    // No calls to validator.swagger.io: the page works offline.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
  })
})()
