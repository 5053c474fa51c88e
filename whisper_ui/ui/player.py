"""The player: the open file's recording, synced to its transcript.

A gr.HTML of its own whose value never changes after the page is built, so Gradio
never re-renders it and playback survives the transcript pane's updates (that pane is
re-rendered on every decoded segment). PLAYER_JS reads what to play from the pane
(`.head[data-media]`, written by ui/transcript_view.py with the owner's media URL from
ui/downloads.py, which answers Range requests so seeking a long file fetches only
what it needs), swaps the element when the open file changes, and:

- a click on a segment's time seeks there and plays;
- the segment being played is highlighted and kept in view while it plays (scrolling
  the transcript stops its live follow, as a person's scroll does);
- space toggles play when the focus is not in a field; a speed control 0.75x to 2x,
  remembered in the browser.

Nothing comes from outside this server: the browser's own <audio>/<video> element.
"""

from __future__ import annotations

SPEEDS = (0.75, 1.0, 1.25, 1.5, 1.75, 2.0)

PLAYER_HTML = (
    '<div class="player" hidden><div class="media"></div>'
    '<div class="controls"><label>Speed <select class="speed" aria-label="Playback speed">'
    + "".join(
        f'<option value="{s:g}"{" selected" if s == 1.0 else ""}>{s:g}×</option>' for s in SPEEDS
    )
    + '</select></label><span class="hint">Click a time in the transcript to play from '
    'there · space: play/pause</span><span class="note" role="status"></span></div></div>'
)

PLAYER_JS = """
const root = element.querySelector('.player');
const holder = root.querySelector('.media');
const speed = root.querySelector('.speed');
const note = root.querySelector('.note');
const saved = localStorage.getItem('whisper-ui.speed');
if (saved && speed.querySelector(`option[value="${saved}"]`)) speed.value = saved;
let media = null, src = '', kind = '';
const pane = () => document.querySelector('#transcript');
const keepInView = (seg) => {
  const box = seg.closest('.lines');
  if (!box) return;
  const top = seg.offsetTop - box.offsetTop, bottom = top + seg.offsetHeight;
  if (top < box.scrollTop || bottom > box.scrollTop + box.clientHeight) {
    box.scrollTop = Math.max(0, top - box.clientHeight / 3);
  }
};
const mark = (reveal) => {
  const p = pane();
  if (!p || !media) return;
  const t = media.currentTime;
  let found = null;
  for (const seg of p.querySelectorAll('.seg')) {
    if (+seg.dataset.start <= t + 0.05) found = seg; else break;
  }
  for (const seg of p.querySelectorAll('.seg.playing')) {
    if (seg !== found) seg.classList.remove('playing');
  }
  if (found && !found.classList.contains('playing')) {
    found.classList.add('playing');
    if (!media.paused) keepInView(found);
  }
  if (found && reveal === true) keepInView(found);
};
const load = (url, k) => {
  if (url === src && k === kind) return;
  src = url; kind = k;
  if (media) { media.pause(); media.remove(); media = null; }
  note.textContent = '';
  if (!url) { root.hidden = true; return; }
  media = document.createElement(k === 'video' ? 'video' : 'audio');
  media.controls = true;
  media.preload = 'metadata';
  media.src = url;
  media.defaultPlaybackRate = media.playbackRate = +speed.value;
  media.addEventListener('timeupdate', mark);
  media.addEventListener('seeked', mark);
  media.addEventListener('error', () => {
    note.textContent = 'This recording cannot be played here (its format, or it is no ' +
      'longer kept); the transcript is not affected.';
  });
  holder.replaceChildren(media);
  root.hidden = false;
};
let sought = '';
const sync = () => {
  const head = pane()?.querySelector('.head');
  load(head?.dataset.media || '', head?.dataset.kind || 'audio');
  const seek = head?.dataset.seek || '';
  if (media && seek && seek !== sought) {  // a search result: go to its time
    sought = seek;
    media.currentTime = parseFloat(seek);
    mark(true);
  }
  mark();
};
let observed = null;
const attach = () => {
  const p = pane();
  if (!p || p === observed) return;
  observed = p;
  new MutationObserver(sync).observe(p, { childList: true, subtree: true });
  sync();
};
attach();
setInterval(attach, 1000);  // the pane may mount after the player, or be mounted anew
speed.addEventListener('change', () => {
  localStorage.setItem('whisper-ui.speed', speed.value);
  if (media) media.defaultPlaybackRate = media.playbackRate = +speed.value;
});
document.addEventListener('click', (event) => {
  const time = event.target.closest && event.target.closest('#transcript .time[data-t]');
  if (!time || !media) return;
  media.currentTime = +time.dataset.t;
  media.play().catch(() => {});
  time.blur();  // space now toggles play instead of pressing this button again
});
document.addEventListener('keydown', (event) => {
  if (event.key !== ' ' || !media || root.hidden || event.repeat) return;
  const fields = 'input, textarea, select, button, a, audio, video, [contenteditable]';
  if (event.target.closest && event.target.closest(fields)) return;
  event.preventDefault();
  if (media.paused) media.play().catch(() => {}); else media.pause();
});
"""

PLAYER_CSS = """
.player { display: flex; flex-direction: column; gap: 6px; margin-bottom: 8px; }
.player[hidden] { display: none; }
.player audio { width: 100%; height: 40px; }
.player video { width: 100%; max-height: 280px; background: #000; border-radius: 8px; }
.controls { display: flex; flex-wrap: wrap; gap: 4px 12px; align-items: center;
  font-size: var(--text-sm); color: var(--body-text-color-subdued); }
.controls select { font: inherit; padding: 1px 4px; border-radius: 6px;
  border: 1px solid var(--border-color-primary); background: var(--block-background-fill);
  color: var(--body-text-color); }
.note:empty { display: none; }
.note { color: #7a3d00; background: #fde3c4; padding: 2px 8px; border-radius: 6px; }
"""
