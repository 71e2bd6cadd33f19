// wordfreq.cc: what the corpus benchmark (scripts/bench-corpus.sh) has
// clang compile, with -O2 for wasm32-wasip1: a small C++17 program that
// counts the words of its input and prints the most frequent ones. The
// work is in the compiler: parsing libc++'s headers, instantiating the
// templates and optimizing them.
#include <algorithm>
#include <cctype>
#include <iostream>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

std::string normalize(const std::string &word) {
  std::string out;
  out.reserve(word.size());
  for (char c : word)
    if (std::isalpha(static_cast<unsigned char>(c)))
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

std::vector<std::pair<std::string, int>> top(const std::unordered_map<std::string, int> &counts, size_t n) {
  std::vector<std::pair<std::string, int>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto &a, const auto &b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (sorted.size() > n)
    sorted.resize(n);
  return sorted;
}

} // namespace

int main(int argc, char **argv) {
  size_t n = argc > 1 ? std::stoul(argv[1]) : 10;
  std::unordered_map<std::string, int> counts;
  std::map<size_t, int> lengths;
  std::string word;
  while (std::cin >> word) {
    std::string w = normalize(word);
    if (w.empty())
      continue;
    ++counts[w];
    ++lengths[w.size()];
  }
  for (const auto &[w, c] : top(counts, n))
    std::cout << c << ' ' << w << '\n';
  for (const auto &[len, c] : lengths)
    std::cout << "length " << len << ": " << c << '\n';
}
