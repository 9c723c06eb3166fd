/* Cell renderers of the dashboard's grids (app/grid.py). Served by the app itself like every script, so the
   page's Content-Security-Policy ('self') allows it. */
var dagcomponentfuncs = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});

/* Links of a cell: row.links[field] = [[text, href], ...] (drawn "text; text"). A plain click navigates inside
   the page as dcc.Link does; a middle or modified click opens the link like any other. */
dagcomponentfuncs.CellLinks = function (props) {
  var links = props.data && props.data.links && props.data.links[props.colDef.field];
  if (!links || !links.length) {
    return props.value === null || props.value === undefined ? '' : String(props.value);
  }
  var parts = [];
  links.forEach(function (link, i) {
    if (i) { parts.push('; '); }
    if (!link[1]) { parts.push(link[0]); return; }
    parts.push(React.createElement('a', {
      key: i, href: link[1], className: 'cell-link',
      onClick: function (event) {
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) { return; }
        event.preventDefault();
        event.stopPropagation();  // a link, not a row selection
        window.history.pushState({}, '', link[1]);
        window.dispatchEvent(new CustomEvent('_dashprivate_pushstate'));
        window.scrollTo(0, 0);
      }
    }, link[0]));
  });
  return React.createElement('span', null, parts);
};
