using System.Text;
using System.Text.RegularExpressions;

namespace OneDiff.Metrics.Tokenization;

/// <summary>
/// The Stanford PTB tokenizer as the MS-COCO caption evaluation runs it (CoreNLP 3.4.1,
/// <c>-preserveLines -lowerCase</c>, default PTB3 escaping): a longest-match scanner over the
/// rules of CoreNLP's PTBLexer that matter for captions (words with inner periods, clitics and
/// n't, numbers and fractions, hyphenated and slashed words, abbreviations and acronyms, PTB
/// brackets, LaTeX quotes, dashes and ellipses); characters no rule knows (emoji) are deleted as
/// the original does. Written from the lexer's rules; pinned by the pycocoevalcap fixtures.
/// </summary>
public static class PtbTokenizer
{
    sealed record Rule(string Name, Regex Pattern, Func<string, string?> Emit);

    // Character classes of PTBLexer (JFlex [:letter:] / [:digit:] are Java's isLetter / isDigit).
    const string L = @"[\p{L}\p{M}\u00AD]";
    const string D = @"\p{Nd}";
    const string AlNum = @"[\p{L}\p{M}\p{Nd}]";
    const string Apos = @"(?:['\u0092\u2019\u00B4]|&apos;)";
    const string AposEtc = @"(?:" + Apos + @"|[`\u0091\u2018\u201B])";
    const string Space = @"[ \t\u00A0\u2000-\u200A\u3000]";
    const string Newline = @"(?:\r\n?|\n|\u2028|\u2029|\u000B|\u000C|\u0085)";
    const string SpaceNl = "(?:" + Space + "|" + Newline + ")";
    const string Word = L + "(?:" + L + "|" + D + ")*(?:[.!?]" + L + "(?:" + L + "|" + D + ")*)*";
    const string RedAux = Apos + @"(?:[msdMSD]|[rR][eE]|[vV][eE]|[lL][lL])";
    const string SWord = @"[\p{L}\u00AD]*[A-MO-Za-mo-z]\u00AD*";
    const string SRedAux = "[nN]" + AposEtc + "[tT]";
    const string Num = D + @"*(?:[.,\u066B\u066C]" + D + "+)+|" + D + @"+(?:[.:,\u00AD\u066B\u066C]" + D + "+)*";
    const string Number = @"[\-+]?(?:" + Num + ")";
    const string Hyphen = @"[-_\u058A\u2010\u2011]";
    const string Acro = @"[A-Za-z](?:\.[A-Za-z])+";
    const string AbbrevMonth = "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec";
    const string AbbrevDays = "Mon|Tue|Tues|Wed|Thu|Thurs|Fri";
    const string AbbrevState = "Ala|Ariz|Ark|Calif|Colo|Conn|Dak|Del|Fla|Ga|Ill|Ind|Kans?|Ky|La|Mass|Md|Mich|Minn|Miss|Mo|Mont|Neb|Nev|Okla|Ore|Pa|Penn|Tenn|Tex|Va|Vt|Wash|Wisc?|Wyo";
    const string AbbrevComp = "Inc|Cos?|Corp|Pp?tys?|Ltd|Plc|Bancorp|Dept|Bhd|Assn|Univ|Intl|Sys";
    const string AbbrevNum = "Nos?|Prop|Ph|tel|est|ext|sq|ft";
    const string AbbrevPersonTitle = @"Jr|Sr|Bros|(?:Ed|Ph)\.D|Blvd|Rd|Esq";
    const string AbbrevTitle = "Mr|Mrs|Ms|Miss|Drs?|Profs?|Sens?|Reps?|Attys?|Lt|Col|Gen|Messrs|Govs?|Adm|Rev|Maj|Sgt|Cpl|Pvt|Mt|Capt|Ste?|Ave|Pres|Lieut|Hon|Brig|Co?mdr|Pfc|Spc|Supts?|Det";
    const string AbbrevComp2 = "Invt|Elec|Natl|M[ft]g";
    const string Abbrev1 = "(?i:" + AbbrevMonth + "|" + AbbrevDays + "|" + AbbrevState + "|" + AbbrevComp + "|" + AbbrevNum + "|" + AbbrevPersonTitle + @"|etc|al|seq)\.";
    // .NET alternation takes the first branch that succeeds, so longer branches come first.
    const string Abbrev4 = "(?:" + Acro + "|(?i:" + AbbrevTitle + @"|vs|Alex|Wm|Jos|Cie|a\.k\.a|cf|TREAS|" + AbbrevComp2 + ")|[A-Za-z])";

    static readonly Rule[] Rules = BuildRules();

    static Rule[] BuildRules()
    {
        var rules = new List<Rule>();
        void Add(string name, string pattern, Func<string, string?> emit) =>
            rules.Add(new Rule(name, new Regex(@"\G(?<t>" + pattern + ")", RegexOptions.CultureInvariant | RegexOptions.Compiled), emit));
        // r1/r2 rules: JFlex compares lengths including the trailing context r2, then emits r1.
        void AddWithContext(string name, string pattern, string context, Func<string, string?> emit) =>
            rules.Add(new Rule(name, new Regex(@"\G(?<t>" + pattern + ")(?:" + context + ")", RegexOptions.CultureInvariant | RegexOptions.Compiled), emit));
        Func<string, string?> same = s => s;

        AddWithContext("cannot", "(?i:can)", "(?i:not)", same); // "cannot" -> "can" "not" (pushback of 3)
        Add("mdash", @"&(?:MD|mdash|ndash);|[\u0096\u0097\u2013\u2014\u2015]", _ => "--");
        Add("amp", "&amp;", _ => "&");
        AddWithContext("word-redaux", Word, RedAux, same);
        AddWithContext("sword-sredaux", SWord, SRedAux, same);
        Add("word", Word, same);
        Add("apoword", Apos + "n" + Apos + "?|[lLdDjJ]" + Apos + "|" + Apos + "(?i:em)|[A-HJ-XZn]" + AposEtc + @"\p{L}{2}\p{L}*|" + Apos + "[2-9]0s|" + Apos + "(?i:till?)|" + @"\p{L}+[aeiouyAEIOUY]" + AposEtc + @"[aeiouA-Z]\p{L}*|" + Apos + "(?i:cause)", same);
        AddWithContext("apoword2", "[yY]" + Apos, @"\p{L}", same);
        Add("fullurl", @"https?://[^ \t\n\f\r""<>|()]+[^ \t\n\f\r""<>|.!?(){},-]", same);
        AddWithContext("redaux-nonletter", RedAux, "[^A-Za-z]", s => LatexQuotes(s, false));
        Add("sredaux", SRedAux, s => LatexQuotes(s, false));
        Add("date", D + "{1,2}[-/]" + D + "{1,2}[-/]" + D + "{2,4}", same);
        Add("number", Number, s => s.Replace("\u00AD", ""));
        Add("frac", "(?:" + D + @"{1,4}[- \u00A0])?" + D + @"{1,4}(?:\\?/|\u2044)" + D + "{1,4}", s => s.Replace(' ', '\u00A0'));
        Add("frac2", @"[\u00BC\u00BD\u00BE\u2153-\u215E]", NormalizeFraction);
        Add("tbspec", @"-(?:RRB|LRB|RCB|LCB|RSB|LSB)-|(?i:C\.D\.s|pro-|anti-|S(?:&|&amp;)P-500|S(?:&|&amp;)Ls|Cap" + Apos + "n|c" + Apos + "est)", s => s.Replace("&amp;", "&"));
        Add("thing3", AlNum + @"+(?:-\p{L}+){0,2}(?:\\?/" + AlNum + @"+(?:-\p{L}+){0,2}){1,2}", same);
        Add("dolsign", @"[A-Z]*\$|#", same);
        Add("dolsign2", @"[\u00A2\u00A3\u00A4\u00A5\u0080\u20A0\u20AC\u060B\u0E3F\u20A4\uFFE0\uFFE1\uFFE5\uFFE6]", NormalizeCurrency);
        AddWithContext("abbrev1-sentend", Abbrev1, SpaceNl + "(?:" + SpaceNl + "|[A-Z])", same);
        Add("abbrev1", Abbrev1, same);
        Add("abbrev2", Abbrev4 + @"\.", same);
        AddWithContext("abbrev4-space", Abbrev4, Space, same);
        AddWithContext("acro", Acro, SpaceNl, same);
        AddWithContext("word-dot-insentp", Word + @"\.", "[,;:]", s => s.Replace("\u00AD", ""));
        Add("phone", @"(?:\([0-9]{3}\)[ \u00A0]?|[0-9]{3}[- \u00A0.])[0-9]{3}[- \u00A0.][0-9]{4}", s => s.Replace(' ', '\u00A0').Replace("(", "-LRB-").Replace(")", "-RRB-"));
        AddWithContext("dblquote-left", @"""|&quot;", @"[A-Za-z0-9$]", s => LatexQuotes(s, true));
        Add("dblquote", @"""|&quot;", s => LatexQuotes(s, false));
        Add("plus", @"\+", same);
        Add("percent-amp", @"[%&\u2030\u2031]", same);
        Add("tilde-caret", @"[~^]", same);
        Add("bar-backslash", @"[|\\]", same);
        Add("lt-lsb", @"&lt;|<", _ => "<");
        Add("gt-rsb", @"&gt;|>", _ => ">");
        Add("lsb", @"\[", _ => "-LSB-");
        Add("rsb", @"\]", _ => "-RSB-");
        Add("lcb", @"\{", _ => "-LCB-");
        Add("rcb", @"\}", _ => "-RCB-");
        Add("lrb", @"\(", _ => "-LRB-");
        Add("rrb", @"\)", _ => "-RRB-");
        Add("hyphens", "-+", s => s.Length is >= 3 and <= 4 ? "--" : s);
        Add("ldots", @"\.{3,5}|(?:\.[ \u00A0]){2,4}\.|[\u0085\u2026]", _ => "...");
        Add("fnmarks", "@+|#+|_+", same);
        Add("asts", @"\*+|(?:\\\*){1,3}", same);
        Add("insentp", "[,;:]", same);
        Add("qmark-bang", "[?!]+", same);
        Add("period", @"[.\u00A1\u00BF\u037E\u0589\u061F\u06D4\u0700-\u0702\u07FA]", same);
        Add("equals", "=", same);
        Add("slash", "/", same);
        Add("hthing", AlNum + @"[\p{L}\p{M}\p{Nd}.,\u00AD]*(?:-(?:[\p{L}\p{M}\p{Nd}\u00AD]+|" + Acro + @"\.))+", s => s.Replace("\u00AD", ""));
        Add("thing", "(?:[dDoOlL]" + AposEtc + AlNum + ")?" + AlNum + "+(?:" + Hyphen + "(?:[dDoOlL]" + AposEtc + AlNum + ")?" + AlNum + "+)*", same);
        Add("thinga", "[A-Z]+(?:(?:[+&]|&amp;)[A-Z]+)+", s => s.Replace("&amp;", "&"));
        AddWithContext("quote-left", "'", @"[A-Za-z][^ \t\n\r\u00A0]", s => LatexQuotes(s, true));
        Add("redaux", RedAux, s => LatexQuotes(s, false));
        Add("quotes", Apos + @"|''|[`\u2018\u2019\u201A\u201B\u201C\u201D\u0091\u0092\u0093\u0094\u201E\u201F\u2039\u203A\u00AB\u00BB]{1,2}", s => LatexQuotes(s, false));
        Add("miscsymbol", @"[\u00A6\u00A7\u00A8\u00A9\u00AC\u00AE\u00AF\u00B0-\u00BA\u00D7\u00F7\u0387\u05BE\u05C0\u05C3\u05C6\u05F3\u05F4\u0600-\u0603\u0606-\u060A\u060C\u0614\u061B\u061E\u066A\u066D\u0703-\u070D\u07F6\u07F7\u07F8\u0964\u0965\u0E4F\u2020-\u2023\u2032-\u2038\u2044\u207A-\u207F\u208A-\u208E\u2100-\u214F\u2190-\u21FF\u2200-\u22FF\u2300-\u23FF\u2600-\u26FF\u3012\u30FB\uFF01-\uFF0F\uFF1A-\uFF20\uFF3B-\uFF40\uFF5B-\uFF65]", same);
        Add("space", @"[\0 \t\u00A0\u2000-\u200B\u200E\u200F\u3000\uFEFF]+|" + Newline + "|&nbsp;", _ => null);
        return rules.ToArray();
    }

    /// <summary>Tokens of one caption, lower-cased, as PTBTokenizer prints them.</summary>
    public static List<string> Tokenize(string text)
    {
        var tokens = new List<string>();
        Tokenize(text, tokens);
        return tokens;
    }

    /// <summary>Appends the lower-cased tokens of <paramref name="text"/> to <paramref name="tokens"/>.</summary>
    public static void Tokenize(string text, List<string> tokens)
    {
        int pos = 0, n = text.Length;
        while (pos < n)
        {
            char c = text[pos];
            if (c == ' ') { pos++; continue; }
            // Fast path: a run of ASCII letters and digits that starts with a letter and ends at a
            // space or the end is one token under every rule but "cannot".
            if (IsAsciiLetter(c))
            {
                int end = pos + 1;
                while (end < n && (IsAsciiLetter(text[end]) || char.IsAsciiDigit(text[end]))) end++;
                if (end == n || text[end] == ' ' || text[end] == '\n')
                {
                    if (end - pos == 6 && string.Compare(text, pos, "cannot", 0, 6, StringComparison.OrdinalIgnoreCase) == 0)
                    {
                        tokens.Add(text.Substring(pos, 3).ToLowerInvariant());
                        tokens.Add(text.Substring(pos + 3, 3).ToLowerInvariant());
                    }
                    else tokens.Add(text.Substring(pos, end - pos).ToLowerInvariant());
                    pos = end;
                    continue;
                }
            }
            pos = ScanOne(text, pos, tokens);
        }
    }

    static bool IsAsciiLetter(char c) => (uint)((c | 0x20) - 'a') <= 'z' - 'a';

    static int ScanOne(string text, int pos, List<string> tokens)
    {
        Rule? best = null;
        int bestTotal = 0, bestTokenLength = 0;
        foreach (var rule in Rules)
        {
            var m = rule.Pattern.Match(text, pos);
            if (!m.Success || m.Length <= bestTotal) continue; // longest match; earlier rule wins ties
            best = rule;
            bestTotal = m.Length;
            bestTokenLength = m.Groups["t"].Length;
        }
        if (best is null || bestTokenLength == 0)
        {
            // Untokenizable (no rule): deleted, as PTBLexer's default "firstDelete" does.
            return pos + (char.IsHighSurrogate(text[pos]) && pos + 1 < text.Length ? 2 : 1);
        }
        string? token = best.Emit(text.Substring(pos, bestTokenLength));
        if (token is not null) tokens.Add(token.ToLowerInvariant());
        return pos + bestTokenLength;
    }

    static string LatexQuotes(string s, bool probablyLeft)
    {
        var sb = new StringBuilder(s.Replace("&apos;", "'").Replace("&quot;", "\""));
        string r = sb.ToString();
        r = probablyLeft ? r.Replace("'", "`").Replace("\"", "``") : r.Replace("\"", "''");
        var o = new StringBuilder();
        foreach (char c in r)
        {
            o.Append(c switch
            {
                '\u0091' or '\u2018' or '\u201B' or '\u2039' => "`",
                '\u0092' or '\u2019' or '\u203A' or '\u00B4' => "'",
                '\u0093' or '\u201C' or '\u00AB' => "``",
                '\u0094' or '\u201D' or '\u00BB' => "''",
                _ => c.ToString(),
            });
        }
        return o.ToString();
    }

    static string NormalizeFraction(string s) => s switch
    {
        "\u00BC" => "1/4",
        "\u00BD" => "1/2",
        "\u00BE" => "3/4",
        "\u2153" => "1/3",
        "\u2154" => "2/3",
        _ => s,
    };

    static string NormalizeCurrency(string s) => s switch
    {
        "\u00A2" => "cents",
        "\u00A3" => "#",
        "\u0080" or "\u00A4" or "\u20A0" or "\u20AC" => "$",
        _ => s,
    };
}
