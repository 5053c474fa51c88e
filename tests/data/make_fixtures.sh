#!/usr/bin/env bash
# Regenerate the committed test audio in tests/data/.
#
# Idempotent: every run rewrites every file from the same inputs, with
# dithering off, metadata stripped and "bitexact" muxing, so re-running it on
# the same tool versions gives the same bytes (different espeak-ng / ffmpeg /
# x264 versions may change a few bytes but not the words or durations).
#
# Needs: espeak-ng, sox, ffmpeg (with libmp3lame, libopus, libx264), python3, bc.
# Usage: tests/data/make_fixtures.sh   (from anywhere)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

for tool in espeak-ng sox ffmpeg python3; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

VOICE=en-us
RATE=150 # words per minute; a little slower than espeak's default helps tiny.en

# ffmpeg flags that keep output stable between runs (no encoder tags, no random ids).
FF=(ffmpeg -nostdin -hide_banner -loglevel error -y)
BITEXACT=(-map_metadata -1 -fflags +bitexact -flags:a +bitexact)
BITEXACT_V=(-map_metadata -1 -fflags +bitexact -flags:a +bitexact -flags:v +bitexact)

# say TEXT OUT.wav [PAD] [WPM]: speak TEXT into a 16 kHz mono 16-bit wav, normalised
# to -3 dBFS, with PAD seconds (default 0.3) of silence either side.
say() {
    local pad="${3:-0.3}" wpm="${4:-$RATE}"
    espeak-ng -v "$VOICE" -s "$wpm" -w "$TMP/raw.wav" "$1"
    sox -D "$TMP/raw.wav" -r 16000 -c 1 -b 16 "$2" norm -3 pad "$pad" "$pad"
}

SPEECH_TEXT="The quick brown fox jumps over the lazy dog. \
On Tuesday the weather will be sunny, with a high of twenty five degrees."
VIDEO_TEXT="Please remember to water the garden and feed the cat before dinner."
SECOND_TEXT="The red car is parked next to the old church."
STEREO_TEXT="The library is closed on Sunday."
PHONE_TEXT="Hello, I am calling about your dentist appointment on Friday."

# ---- speech.* : one sentence pair, many containers ---------------------------
say "$SPEECH_TEXT" speech.wav 0.2 130 # slower: "brown fox" survives greedy decoding
sox -D speech.wav -C 8 speech.flac
"${FF[@]}" -i speech.wav -c:a libmp3lame -b:a 32k -ar 16000 -ac 1 "${BITEXACT[@]}" speech.mp3
"${FF[@]}" -i speech.wav -c:a aac -b:a 32k -ar 16000 -ac 1 "${BITEXACT[@]}" speech.m4a
"${FF[@]}" -i speech.wav -c:a libopus -b:a 32k -ac 1 "${BITEXACT[@]}" speech.ogg
"${FF[@]}" -i speech.wav -c:a libopus -b:a 32k -ac 1 "${BITEXACT[@]}" speech.webm

# ---- second_speech.wav : a different, short sentence --------------------------
say "$SECOND_TEXT" second_speech.wav

# ---- stereo_44k.wav : 44.1 kHz stereo, right channel at half volume -----------
say "$STEREO_TEXT" "$TMP/stereo_src.wav" 0.1 # short: 44.1 kHz stereo PCM is big
sox -D "$TMP/stereo_src.wav" -r 44100 -c 2 -b 16 stereo_44k.wav remix 1 1v0.5

# ---- speech_8k.wav : telephone band (300-3400 Hz), 8 kHz mu-law ---------------
say "$PHONE_TEXT" "$TMP/phone_src.wav"
sox -D "$TMP/phone_src.wav" -r 8000 -c 1 -e u-law -b 8 speech_8k.wav sinc 300-3400

# ---- silence.wav, tiny_0.1s.wav, empty.wav -----------------------------------
sox -D -n -r 16000 -c 1 -b 16 silence.wav trim 0 5
sox -D -n -r 16000 -c 1 -b 16 tiny_0.1s.wav synth 0.1 sine 440 vol 0.3
: >empty.wav

# ---- video.{mp4,mkv,mov} : 64x64 still colour + AAC of a different sentence ---
say "$VIDEO_TEXT" "$TMP/video_src.wav"
# an explicit video length: -shortest overshoots with x264's lookahead
VIDEO_LEN="$(soxi -D "$TMP/video_src.wav")"
"${FF[@]}" -f lavfi -i "color=c=teal:s=64x64:r=10:d=$VIDEO_LEN" -i "$TMP/video_src.wav" \
    -c:v libx264 -preset veryslow -crf 40 -pix_fmt yuv420p -tune stillimage \
    -c:a aac -b:a 40k -ar 22050 -ac 1 "${BITEXACT_V[@]}" -movflags +faststart video.mp4
"${FF[@]}" -i video.mp4 -c copy "${BITEXACT_V[@]}" video.mkv
"${FF[@]}" -i video.mp4 -c copy "${BITEXACT_V[@]}" video.mov
"${FF[@]}" -f lavfi -i "color=c=orange:s=64x64:r=10:d=3" \
    -c:v libx264 -preset veryslow -crf 40 -pix_fmt yuv420p -tune stillimage -an \
    "${BITEXACT_V[@]}" video_noaudio.mp4

# ---- long_speech.mp3 : several paragraphs, 1.5 s pause between them ----------
PARAGRAPHS=(
    "Chapter one. The ocean covers most of the surface of our planet. Whales, dolphins and \
sharks swim through the deep blue water, while small fish hide among the coral reefs. \
Sailors have crossed the ocean for thousands of years, guided by the stars."
    "Chapter two. High in the mountains the air is cold and thin. Climbers carry ropes, \
warm jackets and plenty of water. From the summit they can see valleys, rivers and \
villages far below, and sometimes an eagle circling above the snow."
    "Chapter three. To bake fresh bread you need flour, water, salt and yeast. Mix them \
together, knead the dough for ten minutes, and let it rise in a warm kitchen. \
Bake the loaf in a hot oven until the crust is golden brown."
    "Chapter four. The railway station was busy on Monday morning. Trains arrived from \
the north and the south, and passengers hurried along the platforms with their \
suitcases. The conductor blew his whistle and the express departed on time."
    "Chapter five. A computer follows instructions written by programmers. It stores \
numbers in memory, adds them very quickly, and shows the results on a screen. \
Today even a small telephone is more powerful than the first computers."
)
parts=()
i=0
for p in "${PARAGRAPHS[@]}"; do
    say "$p" "$TMP/para_$i.wav"
    parts+=("$TMP/para_$i.wav")
    # a 1.5 s gap (plus the 0.3 s padding on each side) between paragraphs
    if ((i < ${#PARAGRAPHS[@]} - 1)); then
        sox -D -n -r 16000 -c 1 -b 16 "$TMP/gap_$i.wav" trim 0 1.5
        parts+=("$TMP/gap_$i.wav")
    fi
    i=$((i + 1))
done
sox -D "${parts[@]}" "$TMP/long.wav"
"${FF[@]}" -i "$TMP/long.wav" -c:a libmp3lame -b:a 24k -ar 16000 -ac 1 "${BITEXACT[@]}" \
    long_speech.mp3

# ---- interview.mp3 : two voices taking turns, for the speakers stage -------------
# Six lines, voices A (en-us+m3, low pitch) and B (en-us+f2, high pitch) alternating
# with 0.6 s pauses; interview.tsv has each turn's start, end and voice (the script
# the tests compare against). voice_a.mp3 / voice_b.mp3: other sentences in the same
# voices, 3-4 s each: reference clips that name the speakers.
interview() {
    local lines=(
        "Good morning, thanks for coming in today."
        "Happy to be here, it is a pleasure."
        "Let us start with your background please."
        "I studied physics and then moved into software."
        "What made you change direction so early?"
        "I liked building things that people could use every day."
    )
    local voices=("en-us+m3 30" "en-us+f2 80") parts=() t=0.5 i=0
    printf 'start\tend\tvoice\n' >interview.tsv
    sox -D -n -r 16000 -c 1 -b 16 "$TMP/lead.wav" trim 0 0.5
    parts+=("$TMP/lead.wav")
    for line in "${lines[@]}"; do
        read -r v pitch <<<"${voices[$((i % 2))]}"
        espeak-ng -v "$v" -p "$pitch" -s "$RATE" -w "$TMP/raw.wav" "$line"
        sox -D "$TMP/raw.wav" -r 16000 -c 1 -b 16 "$TMP/turn_$i.wav" norm -3 silence 1 0.01 1% reverse silence 1 0.01 1% reverse
        local len
        len=$(soxi -D "$TMP/turn_$i.wav")
        printf '%.3f\t%.3f\t%s\n' "$t" "$(echo "$t + $len" | bc -l)" "$((i % 2))" >>interview.tsv
        sox -D -n -r 16000 -c 1 -b 16 "$TMP/pause_$i.wav" trim 0 0.6
        parts+=("$TMP/turn_$i.wav" "$TMP/pause_$i.wav")
        t=$(echo "$t + $len + 0.6" | bc -l)
        i=$((i + 1))
    done
    sox -D "${parts[@]}" "$TMP/interview.wav"
    "${FF[@]}" -i "$TMP/interview.wav" -c:a libmp3lame -b:a 32k -ar 16000 -ac 1 "${BITEXACT[@]}" \
        interview.mp3
    espeak-ng -v en-us+m3 -p 30 -s "$RATE" -w "$TMP/ra.wav" "The weather was cold and grey all week long."
    espeak-ng -v en-us+f2 -p 80 -s "$RATE" -w "$TMP/rb.wav" "My sister plays the violin in an orchestra."
    for x in a b; do
        sox -D "$TMP/r$x.wav" -r 16000 -c 1 -b 16 "$TMP/v$x.wav" norm -3
        "${FF[@]}" -i "$TMP/v$x.wav" -c:a libmp3lame -b:a 32k -ar 16000 -ac 1 "${BITEXACT[@]}" \
            "voice_$x.mp3"
    done
}
interview

# ---- german.ogg / portuguese.ogg : other languages, for the language check ------
# German in a voice base detects with a wide margin (de 0.82 on this text; espeak-ng
# 1.51's default German voice came out as Thai), Portuguese as tiny.en mishears it.
foreign() {
    espeak-ng -v de+f3 -s "$RATE" -w "$TMP/de.wav" "Die Besprechung beginnt um neun Uhr. \
Bitte bringen Sie die Unterlagen mit, damit wir die Zahlen prüfen können. Danach sprechen \
wir über den Haushalt für das nächste Jahr und über die neuen Mitarbeiter in der Abteilung."
    espeak-ng -v pt -s "$RATE" -w "$TMP/pt.wav" "A reunião começa às nove horas. Tragam os \
documentos para que possamos verificar os números."
    local x out
    for x in de:german pt:portuguese; do
        out="${x#*:}.ogg"
        sox -D "$TMP/${x%%:*}.wav" -r 16000 -c 1 -b 16 "$TMP/${x%%:*}16.wav" norm -3
        "${FF[@]}" -i "$TMP/${x%%:*}16.wav" -c:a libopus -b:a 20k -ac 1 "${BITEXACT[@]}" "$out"
    done
}
foreign

# ---- corrupt.mp3 : a real mp3 whose every audio frame is garbled --------------
# The first 60 frames of speech.mp3, ID3 tag and LAME "Info" frame intact, so the
# file opens as an 8.9 s MPEG-2 layer III mp3 and the demuxer finds every frame; but
# in each audio frame the side info's big_values field is forced to 511 (> 288, the
# legal maximum), so the decoder rejects every frame ("big_values too big") and not
# one sample decodes. Deterministic: no randomness involved.
python3 - <<'EOF'
data = bytearray(open("speech.mp3", "rb").read())
assert data[:3] == b"ID3", "expected ffmpeg to write an ID3v2 tag"
pos = 10 + ((data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9])
frames = 0
while frames <= 60:
    hdr = data[pos : pos + 4]
    assert hdr[0] == 0xFF and hdr[1] == 0xF3, "expected MPEG-2 layer III without CRC"
    kbps = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160][hdr[2] >> 4]
    rate = [22050, 24000, 16000][(hdr[2] >> 2) & 3]
    size = 72 * kbps * 1000 // rate + ((hdr[2] >> 1) & 1)
    if frames > 0:  # frame 0 is the Info frame: keep it, it carries the duration
        # side info: main_data_begin(8) private(1) part2_3_length(12) big_values(9)
        data[pos + 6] |= 0x07
        data[pos + 7] |= 0xFC
    pos += size
    frames += 1
open("corrupt.mp3", "wb").write(bytes(data[:pos]))
EOF

# ---- not_audio.mp3 : plain text with an audio extension ----------------------
cat >not_audio.mp3 <<'EOF'
This is a plain text file with an .mp3 extension.
It contains no audio at all; whisper-ui must reject it before queueing a job.
EOF

echo "fixtures written to $HERE:"
ls -l "$HERE" | grep -v -e make_fixtures.sh -e README.md
du -sh "$HERE"
