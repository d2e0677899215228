// Reads every rendered Vega view on a Streamlit page: the view is found through React's fiber
// of each .vega-embed element (Streamlit keeps it in a hook's ref). For each chart: whether the
// view was found, its plot-area size (the cell size of a faceted chart), its box on the page and
// the (colour, dash) pair of every series in its colour scale, and the fill of its text marks.
() => {
  const out = [];
  for (const el of document.querySelectorAll('.vega-embed')) {
    const fiberKey = Object.keys(el).find(k => k.startsWith('__reactFiber'));
    let fiber = fiberKey ? el[fiberKey] : null, view = null, depth = 0;
    while (fiber && !view && depth < 40) {
      for (let hook = fiber.memoizedState; hook && !view; hook = hook.next) {
        for (const cand of [hook.memoizedState, hook.memoizedState && hook.memoizedState.current]) {
          if (cand && typeof cand.scenegraph === 'function' && typeof cand.signal === 'function') view = cand;
        }
      }
      fiber = fiber.return; depth++;
    }
    const box = el.getBoundingClientRect();
    if (!view) { out.push({found: false, boxHeight: box.height, boxWidth: box.width}); continue; }
    const signal = name => { try { return view.signal(name); } catch (e) { return null; } };
    // A faceted chart's cell size is the signal child_height (concat_0_child_height when given to
    // Streamlit as a one-view vconcat, charts.inline); a plain chart's is height, but in such a
    // vconcat the height is a constant of the view (the signal reads 0): then the extent of its
    // x and y scales' ranges, which span the plot area.
    const inner = signal('concat_0_child_height') !== null ? 'concat_0_' : '';
    const faceted = signal(inner + 'child_height') !== null;
    const extent = name => { try { const r = view.scale(name).range(); return Math.abs(r[r.length - 1] - r[0]); } catch (e) { return null; } };
    const series = [];
    try {
      const colour = view.scale('color');
      let dash = null;
      try { dash = view.scale('strokeDash'); } catch (e) {}
      for (const v of colour.domain()) series.push([String(v), colour(v), dash ? JSON.stringify(dash(v)) : 'solid']);
    } catch (e) {}
    const textFills = new Set();
    const walk = node => {
      if (!node) return;
      if (node.marktype === 'text' && node.role === 'mark') for (const item of node.items || []) textFills.add(item.fill);
      for (const item of node.items || []) walk(item);
    };
    walk(view.scenegraph().root);
    out.push({
      found: true,
      textFills: [...textFills],
      faceted,
      plotHeight: faceted ? signal(inner + 'child_height') : signal('height') || extent('y') || extent('concat_0_y'),
      plotWidth: faceted ? signal(inner + 'child_width') : signal('width') || extent('x') || extent('concat_0_x'),
      boxHeight: box.height,
      boxWidth: box.width,
      title: el.getAttribute('aria-label'),
      series,
    });
  }
  return out;
}
