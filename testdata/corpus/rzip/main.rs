// rzip: the Rust program of wasmsr's corpus benchmark (scripts/bench-corpus.sh).
//
// A compressor of the DEFLATE family written the way Rust programs are
// usually written (Vec, HashMap, BinaryHeap, enums, iterators, Box<dyn
// Trait>), so that it exercises what rustc and Rust's standard library emit
// for wasm32-wasi: allocation in loops, bounds checks, inlined generics. It
// generates deterministic English-like text, compresses it with LZ77 (hash
// chains, lazy matching) and per-block canonical Huffman codes, decompresses
// it again, checks the round trip, and prints the sizes, a checksum of the
// compressed stream and the most frequent words.
//
//     rzip [MEGABYTES [OUT]]     (default 8 MB; OUT: where to write the stream)
//
// Its output depends on nothing but its arguments.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::env;
use std::fs;
use std::process;

// ---- input ----------------------------------------------------------------

/// xorshift64*: small, fast and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WORDS: &str = "the of and to in is that it was for on are as with his they at be this from \
    have or by one had not but what all were when we there can an your which their said if do will \
    each about how up out them then she many some so these would other into has more her two like him \
    see time could no make than first been its who now people my made over did down only way find use \
    may water long little very after words called just where most know get through back much before \
    go good new write our used me man too any day same right look think also around another came come \
    work three word must because does part even place well such here take why things help put years \
    different away again off went old number great tell men say small every found still between name \
    should home big give air line set own under read last never us left end along while might next \
    sound below saw something thought both few those always looked show large often together asked \
    house world going want school important until form food keep children feet land side without boy \
    once animals life enough took sometimes four head above kind began almost live page got earth need \
    far hand high year mother light parts country father let night following picture being study \
    second eyes soon times story boys since white days ever paper hard near sentence better best across \
    during today others however sure means knew its try told young miles sun ways thing whole hear \
    example heard several change answer room sea against top turned learn point city play toward five \
    using himself usually";

/// A text of n bytes: words drawn with a skewed distribution (frequent words
/// early in WORDS), in sentences and paragraphs, so that it compresses like
/// prose does.
fn generate_text(n: usize, rng: &mut Rng) -> Vec<u8> {
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    let mut text = Vec::with_capacity(n + 64);
    let mut sentence_len = 0;
    while text.len() < n {
        // The smaller of two draws: word k is about twice as likely as word 2k.
        let k = rng.below(words.len()).min(rng.below(words.len()));
        let word = words[k];
        if sentence_len == 0 {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                text.extend(first.to_uppercase().to_string().bytes());
                text.extend(chars.as_str().bytes());
            }
        } else {
            text.push(b' ');
            text.extend_from_slice(word.as_bytes());
        }
        sentence_len += 1;
        if sentence_len > 4 && rng.below(10) == 0 {
            text.push(if rng.below(8) == 0 { b'?' } else { b'.' });
            text.push(if rng.below(6) == 0 { b'\n' } else { b' ' });
            sentence_len = 0;
        } else if rng.below(25) == 0 {
            text.push(b',');
        }
    }
    text.truncate(n);
    text
}

// ---- LZ77 -----------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Token {
    Literal(u8),
    Match { len: u16, dist: u16 },
}

const WINDOW: usize = 1 << 15;
const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;
const HASH_BITS: u32 = 15;
const MAX_CHAIN: usize = 48;

struct MatchFinder {
    head: Vec<i32>,
    prev: Vec<i32>,
}

impl MatchFinder {
    fn new() -> Self {
        MatchFinder { head: vec![-1; 1 << HASH_BITS], prev: vec![-1; WINDOW] }
    }

    fn hash(data: &[u8], i: usize) -> usize {
        let v = (data[i] as u32) << 16 | (data[i + 1] as u32) << 8 | data[i + 2] as u32;
        (v.wrapping_mul(2_654_435_761) >> (32 - HASH_BITS)) as usize
    }

    fn insert(&mut self, data: &[u8], i: usize) {
        if i + MIN_MATCH <= data.len() {
            let h = Self::hash(data, i);
            self.prev[i % WINDOW] = self.head[h];
            self.head[h] = i as i32;
        }
    }

    /// The longest match for data[i..] in the window, as (length, distance).
    fn longest(&self, data: &[u8], i: usize) -> (usize, usize) {
        if i + MIN_MATCH > data.len() {
            return (0, 0);
        }
        let limit = (data.len() - i).min(MAX_MATCH);
        let (mut best_len, mut best_dist) = (0, 0);
        let mut candidate = self.head[Self::hash(data, i)];
        for _ in 0..MAX_CHAIN {
            if candidate < 0 {
                break;
            }
            let c = candidate as usize;
            if c >= i || i - c > WINDOW - 1 {
                break;
            }
            let len = data[c..].iter().zip(&data[i..i + limit]).take_while(|(a, b)| a == b).count();
            if len > best_len {
                best_len = len;
                best_dist = i - c;
                if len == limit {
                    break;
                }
            }
            candidate = self.prev[c % WINDOW];
        }
        if best_len >= MIN_MATCH {
            (best_len, best_dist)
        } else {
            (0, 0)
        }
    }
}

/// LZ77 with one step of lazy matching: a match is deferred when the next
/// position has a longer one.
fn tokenize(data: &[u8]) -> Vec<Token> {
    let mut finder = MatchFinder::new();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let (len, dist) = finder.longest(data, i);
        finder.insert(data, i);
        if len == 0 {
            tokens.push(Token::Literal(data[i]));
            i += 1;
            continue;
        }
        let (next_len, _) = finder.longest(data, i + 1);
        if next_len > len {
            tokens.push(Token::Literal(data[i]));
            i += 1;
            continue;
        }
        tokens.push(Token::Match { len: len as u16, dist: dist as u16 });
        for j in i + 1..i + len {
            finder.insert(data, j);
        }
        i += len;
    }
    tokens
}

// ---- symbols: DEFLATE's length and distance codes -------------------------

const LEN_BASE: [u16; 29] =
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA: [u8; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
    8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const END_OF_BLOCK: usize = 256;
const LITLEN_SYMBOLS: usize = 257 + LEN_BASE.len();
const MAX_CODE_LEN: u8 = 15;

/// The code whose base is the largest not above value.
fn code_of(bases: &[u16], value: u16) -> usize {
    match bases.binary_search(&value) {
        Ok(i) => i,
        Err(i) => i - 1,
    }
}

// ---- Huffman codes --------------------------------------------------------

/// Code lengths for the frequencies, none longer than MAX_CODE_LEN: a
/// Huffman tree built with a heap; when it is too deep, the frequencies are
/// flattened and it is built again.
fn code_lengths(freqs: &[u32]) -> Vec<u8> {
    let mut freqs = freqs.to_vec();
    loop {
        let lengths = huffman_lengths(&freqs);
        if lengths.iter().all(|&l| l <= MAX_CODE_LEN) {
            return lengths;
        }
        for f in freqs.iter_mut().filter(|f| **f > 0) {
            *f = (*f >> 1) | 1;
        }
    }
}

enum Node {
    Leaf(usize),
    Inner(Box<Node>, Box<Node>),
}

fn huffman_lengths(freqs: &[u32]) -> Vec<u8> {
    let mut lengths = vec![0u8; freqs.len()];
    // (weight, order of creation) orders the heap deterministically.
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut nodes: Vec<Option<Node>> = Vec::new();
    for (symbol, &f) in freqs.iter().enumerate() {
        if f > 0 {
            heap.push(Reverse((f as u64, nodes.len())));
            nodes.push(Some(Node::Leaf(symbol)));
        }
    }
    match heap.len() {
        0 => return lengths,
        1 => {
            // One symbol still needs a one-bit code.
            if let Some(Some(Node::Leaf(s))) = nodes.pop() {
                lengths[s] = 1;
            }
            return lengths;
        }
        _ => {}
    }
    while heap.len() > 1 {
        let Reverse((wa, a)) = heap.pop().unwrap();
        let Reverse((wb, b)) = heap.pop().unwrap();
        let node = Node::Inner(Box::new(nodes[a].take().unwrap()), Box::new(nodes[b].take().unwrap()));
        heap.push(Reverse((wa + wb, nodes.len())));
        nodes.push(Some(node));
    }
    let Reverse((_, root)) = heap.pop().unwrap();
    fn walk(node: &Node, depth: u8, lengths: &mut [u8]) {
        match node {
            Node::Leaf(s) => lengths[*s] = depth,
            Node::Inner(l, r) => {
                walk(l, depth.saturating_add(1), lengths);
                walk(r, depth.saturating_add(1), lengths);
            }
        }
    }
    walk(nodes[root].as_ref().unwrap(), 0, &mut lengths);
    lengths
}

/// Canonical codes for the lengths (as DEFLATE assigns them), bit-reversed
/// so that they can be written least significant bit first.
fn canonical_codes(lengths: &[u8]) -> Vec<u16> {
    let mut count = [0u16; MAX_CODE_LEN as usize + 1];
    for &l in lengths.iter().filter(|&&l| l > 0) {
        count[l as usize] += 1;
    }
    let mut next = [0u16; MAX_CODE_LEN as usize + 2];
    let mut code = 0u16;
    for len in 1..=MAX_CODE_LEN as usize {
        code = (code + count[len - 1]) << 1;
        next[len] = code;
    }
    lengths
        .iter()
        .map(|&l| {
            if l == 0 {
                return 0;
            }
            let c = next[l as usize];
            next[l as usize] += 1;
            c.reverse_bits() >> (16 - l)
        })
        .collect()
}

/// A decoder for canonical codes: per length, the first code and where its
/// symbols start in the sorted symbol list.
struct Decoder {
    first_code: [u32; MAX_CODE_LEN as usize + 1],
    first_index: [u32; MAX_CODE_LEN as usize + 1],
    count: [u32; MAX_CODE_LEN as usize + 1],
    symbols: Vec<u16>,
}

impl Decoder {
    fn new(lengths: &[u8]) -> Decoder {
        let mut d = Decoder {
            first_code: [0; MAX_CODE_LEN as usize + 1],
            first_index: [0; MAX_CODE_LEN as usize + 1],
            count: [0; MAX_CODE_LEN as usize + 1],
            symbols: Vec::new(),
        };
        for len in 1..=MAX_CODE_LEN {
            for (symbol, _) in lengths.iter().enumerate().filter(|(_, &l)| l == len) {
                d.symbols.push(symbol as u16);
                d.count[len as usize] += 1;
            }
        }
        let (mut code, mut index) = (0u32, 0u32);
        for len in 1..=MAX_CODE_LEN as usize {
            code <<= 1;
            d.first_code[len] = code;
            d.first_index[len] = index;
            code += d.count[len];
            index += d.count[len];
        }
        d
    }

    fn decode(&self, bits: &mut BitReader) -> Result<usize, String> {
        let mut code = 0u32;
        for len in 1..=MAX_CODE_LEN as usize {
            code |= bits.read(1)?;
            let offset = code.wrapping_sub(self.first_code[len]);
            if offset < self.count[len] {
                return Ok(self.symbols[(self.first_index[len] + offset) as usize] as usize);
            }
            code <<= 1;
        }
        Err("invalid Huffman code".to_string())
    }
}

// ---- bit streams ----------------------------------------------------------

struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    fn write(&mut self, value: u32, bits: u32) {
        self.acc |= (value as u64) << self.n;
        self.n += bits;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    n: u32,
}

impl<'a> BitReader<'a> {
    fn read(&mut self, bits: u32) -> Result<u32, String> {
        while self.n < bits {
            let byte = *self.data.get(self.pos).ok_or("stream ends early")?;
            self.acc |= (byte as u64) << self.n;
            self.pos += 1;
            self.n += 8;
        }
        let v = (self.acc & ((1u64 << bits) - 1)) as u32;
        self.acc >>= bits;
        self.n -= bits;
        Ok(v)
    }
}

// ---- the stream -----------------------------------------------------------

/// The stream: blocks of up to BLOCK_TOKENS tokens, each with a "last"
/// bit, its two tables of code lengths (4 bits each) and its symbols.
const BLOCK_TOKENS: usize = 1 << 15;

fn compress(data: &[u8]) -> Vec<u8> {
    let tokens = tokenize(data);
    let mut w = BitWriter { out: Vec::new(), acc: 0, n: 0 };
    let blocks: Vec<&[Token]> = tokens.chunks(BLOCK_TOKENS).collect();
    for (b, block) in blocks.iter().enumerate() {
        let mut litlen_freq = vec![0u32; LITLEN_SYMBOLS];
        let mut dist_freq = vec![0u32; DIST_BASE.len()];
        for t in block.iter() {
            match *t {
                Token::Literal(c) => litlen_freq[c as usize] += 1,
                Token::Match { len, dist } => {
                    litlen_freq[257 + code_of(&LEN_BASE, len)] += 1;
                    dist_freq[code_of(&DIST_BASE, dist)] += 1;
                }
            }
        }
        litlen_freq[END_OF_BLOCK] += 1;
        let litlen_lengths = code_lengths(&litlen_freq);
        let dist_lengths = code_lengths(&dist_freq);
        let litlen_codes = canonical_codes(&litlen_lengths);
        let dist_codes = canonical_codes(&dist_lengths);
        w.write((b + 1 == blocks.len()) as u32, 1);
        for &l in litlen_lengths.iter().chain(dist_lengths.iter()) {
            w.write(l as u32, 4);
        }
        for t in block.iter() {
            match *t {
                Token::Literal(c) => w.write(litlen_codes[c as usize] as u32, litlen_lengths[c as usize] as u32),
                Token::Match { len, dist } => {
                    let lc = code_of(&LEN_BASE, len);
                    w.write(litlen_codes[257 + lc] as u32, litlen_lengths[257 + lc] as u32);
                    w.write((len - LEN_BASE[lc]) as u32, LEN_EXTRA[lc] as u32);
                    let dc = code_of(&DIST_BASE, dist);
                    w.write(dist_codes[dc] as u32, dist_lengths[dc] as u32);
                    w.write((dist - DIST_BASE[dc]) as u32, DIST_EXTRA[dc] as u32);
                }
            }
        }
        w.write(litlen_codes[END_OF_BLOCK] as u32, litlen_lengths[END_OF_BLOCK] as u32);
    }
    if blocks.is_empty() {
        // An empty input: one last block with only its end.
        w.write(1, 1);
        let mut lengths = vec![0u8; LITLEN_SYMBOLS + DIST_BASE.len()];
        lengths[END_OF_BLOCK] = 1;
        for l in lengths {
            w.write(l as u32, 4);
        }
        w.write(0, 1);
    }
    w.finish()
}

/// The inverse of compress. Codes were written bit-reversed, so Decoder,
/// reading one bit at a time, sees each in its canonical order.
fn decompress(stream: &[u8]) -> Result<Vec<u8>, String> {
    let mut r = BitReader { data: stream, pos: 0, acc: 0, n: 0 };
    let mut out: Vec<u8> = Vec::new();
    loop {
        let last = r.read(1)? == 1;
        let mut lengths = Vec::with_capacity(LITLEN_SYMBOLS + DIST_BASE.len());
        for _ in 0..LITLEN_SYMBOLS + DIST_BASE.len() {
            lengths.push(r.read(4)? as u8);
        }
        let litlen = Decoder::new(&lengths[..LITLEN_SYMBOLS]);
        let dist = Decoder::new(&lengths[LITLEN_SYMBOLS..]);
        loop {
            let symbol = litlen.decode(&mut r)?;
            if symbol < 256 {
                out.push(symbol as u8);
                continue;
            }
            if symbol == END_OF_BLOCK {
                break;
            }
            let lc = symbol - 257;
            let len = LEN_BASE[lc] as usize + r.read(LEN_EXTRA[lc] as u32)? as usize;
            let dc = dist.decode(&mut r)?;
            let d = DIST_BASE[dc] as usize + r.read(DIST_EXTRA[dc] as u32)? as usize;
            if d > out.len() {
                return Err(format!("distance {} before the start", d));
            }
            let start = out.len() - d;
            for k in 0..len {
                let byte = out[start + k];
                out.push(byte);
            }
        }
        if last {
            return Ok(out);
        }
    }
}

// ---- reports --------------------------------------------------------------

trait Digest {
    fn update(&mut self, data: &[u8]);
    fn hex(&self) -> String;
}

struct Fnv64(u64);

impl Digest for Fnv64 {
    fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// Adler-32, as zlib checks its streams.
struct Adler32 {
    a: u32,
    b: u32,
}

impl Digest for Adler32 {
    fn update(&mut self, data: &[u8]) {
        for chunk in data.chunks(5552) {
            for &byte in chunk {
                self.a += byte as u32;
                self.b += self.a;
            }
            self.a %= 65521;
            self.b %= 65521;
        }
    }

    fn hex(&self) -> String {
        format!("{:08x}", self.b << 16 | self.a)
    }
}

fn top_words(text: &[u8], n: usize) -> Vec<(String, usize)> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for word in text.split(|c| !c.is_ascii_alphabetic()).filter(|w| !w.is_empty()) {
        *counts.entry(String::from_utf8_lossy(word).to_lowercase()).or_insert(0) += 1;
    }
    let mut sorted: Vec<(String, usize)> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sorted.truncate(n);
    sorted
}

fn run(megabytes: usize, out: Option<&str>) -> Result<(), String> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut total_in = 0usize;
    let mut total_out = 0usize;
    let mut digests: Vec<Box<dyn Digest>> = vec![Box::new(Fnv64(0xcbf2_9ce4_8422_2325)), Box::new(Adler32 { a: 1, b: 0 })];
    let mut stream_file = Vec::new();
    // One-megabyte pieces, compressed independently, as a parallel
    // compressor would cut its input (here they run one after another).
    for piece in 0..megabytes {
        let text = generate_text(1 << 20, &mut rng);
        let stream = compress(&text);
        let back = decompress(&stream).map_err(|e| format!("piece {}: {}", piece, e))?;
        if back != text {
            return Err(format!("piece {}: the round trip changed the data", piece));
        }
        for d in digests.iter_mut() {
            d.update(&stream);
        }
        total_in += text.len();
        total_out += stream.len();
        if out.is_some() {
            stream_file.extend_from_slice(&(stream.len() as u32).to_le_bytes());
            stream_file.extend_from_slice(&stream);
        }
        if piece == 0 {
            let words: Vec<String> = top_words(&text, 8).iter().map(|(w, c)| format!("{} {}", w, c)).collect();
            println!("most frequent words in the first piece: {}", words.join(", "));
        }
    }
    if let Some(path) = out {
        fs::write(path, &stream_file).map_err(|e| format!("{}: {}", path, e))?;
    }
    println!(
        "{} bytes in, {} bytes out ({:.2} %)",
        total_in,
        total_out,
        100.0 * total_out as f64 / total_in.max(1) as f64
    );
    let hexes: Vec<String> = digests.iter().map(|d| d.hex()).collect();
    println!("stream checksums (fnv64, adler32): {}", hexes.join(" "));
    Ok(())
}

fn main() {
    let args: Vec<String> = env::args().collect();
    let megabytes = match args.get(1).map(|s| s.parse::<usize>()) {
        None => 8,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("usage: rzip [MEGABYTES [OUT]]");
            process::exit(2);
        }
    };
    if let Err(e) = run(megabytes, args.get(2).map(|s| s.as_str())) {
        eprintln!("rzip: {}", e);
        process::exit(1);
    }
}
