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
public static partial class PtbTokenizer
{
    sealed record Rule(string Name, Regex Pattern, Func<string, string?> Emit, bool LetterStart);

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
    // The lexer is caseless except inside character classes: "[A]rk" needs a capital A.
    const string AbbrevState = "Ala|Ariz|(?-i:A)rk|Calif|Colo|Conn|Dak|Del|Fla|Ga|(?-i:I)ll|Ind|Kans?|Ky|La|(?-i:M)ass|Md|Mich|Minn|(?-i:M)iss|Mo|Mont|Neb|Nev|Okla|(?-i:O)re|Pa|Penn|Tenn|Tex|Va|Vt|(?-i:W)ash|Wisc?|Wyo";
    const string AbbrevComp = "Inc|Cos?|Corp|Pp?tys?|Ltd|Plc|Bancorp|Dept|Bhd|Assn|Univ|Intl|Sys";
    const string AbbrevNum = "Nos?|Prop|Ph|tel|est|ext|sq|ft";
    const string AbbrevPersonTitle = @"Jr|Sr|Bros|(?:Ed|Ph)\.D|Blvd|Rd|Esq";
    const string AbbrevTitle = "Mr|Mrs|Ms|(?-i:M)iss|Drs?|Profs?|Sens?|Reps?|Attys?|Lt|Col|Gen|Messrs|Govs?|Adm|Rev|Maj|Sgt|Cpl|Pvt|Mt|Capt|Ste?|Ave|Pres|Lieut|Hon|Brig|Co?mdr|Pfc|Spc|Supts?|Det";
    const string AbbrevComp2 = "Invt|Elec|Natl|M[ft]g";
    const string Abbrev1 = "(?i:" + AbbrevMonth + "|" + AbbrevDays + "|" + AbbrevState + "|" + AbbrevComp + "|" + AbbrevNum + "|" + AbbrevPersonTitle + @"|etc|al|seq)\.";
    // .NET alternation takes the first branch that succeeds, so longer branches come first.
    const string Abbrev4 = "(?:" + Acro + "|(?i:" + AbbrevTitle + @"|vs|Alex|Wm|Jos|Cie|a\.k\.a|cf|TREAS|" + AbbrevComp2 + ")|[A-Za-z])";

    // Rules that can match at a letter; the others need a digit, a symbol or a space first.
    static readonly HashSet<string> CanStartWithLetter =
    [
        "cannot", "word-redaux", "sword-sredaux", "word", "apoword", "apoword2", "fullurl", "sredaux", "tbspec", "thing3",
        "dolsign", "abbrev1-sentend", "abbrev1", "abbrev2", "abbrev4-space", "acro", "word-dot-insentp", "hthing", "thing", "thinga",
    ];
    static readonly Rule[] Rules = BuildRules();
    static readonly Rule[] LetterRules = Rules.Where(r => r.LetterStart).ToArray();


    static Rule[] BuildRules()
    {
        var rules = new List<Rule>();
        void Add(string name, Regex pattern, Func<string, string?> emit) =>
            rules.Add(new Rule(name, pattern, emit, CanStartWithLetter.Contains(name)));
        Func<string, string?> same = s => s;

        Add("cannot", Rule_cannot(), same); // "cannot" -> "can" "not" (pushback of 3)
        Add("mdash", Rule_mdash(), _ => "--");
        Add("amp", Rule_amp(), _ => "&");
        Add("word-redaux", Rule_word_redaux(), same);
        Add("sword-sredaux", Rule_sword_sredaux(), same);
        Add("word", Rule_word(), same);
        Add("apoword", Rule_apoword(), same);
        Add("apoword2", Rule_apoword2(), same);
        Add("fullurl", Rule_fullurl(), same);
        Add("redaux-nonletter", Rule_redaux_nonletter(), s => LatexQuotes(s, false));
        Add("sredaux", Rule_sredaux(), s => LatexQuotes(s, false));
        Add("date", Rule_date(), same);
        Add("number", Rule_number(), s => s.Replace("\u00AD", ""));
        Add("frac", Rule_frac(), s => s.Replace(' ', '\u00A0'));
        Add("frac2", Rule_frac2(), NormalizeFraction);
        Add("tbspec", Rule_tbspec(), s => s.Replace("&amp;", "&"));
        Add("thing3", Rule_thing3(), same);
        Add("dolsign", Rule_dolsign(), same);
        Add("dolsign2", Rule_dolsign2(), NormalizeCurrency);
        Add("abbrev1-sentend", Rule_abbrev1_sentend(), same);
        Add("abbrev1", Rule_abbrev1(), same);
        Add("abbrev2", Rule_abbrev2(), same);
        Add("abbrev4-space", Rule_abbrev4_space(), same);
        Add("acro", Rule_acro(), same);
        Add("word-dot-insentp", Rule_word_dot_insentp(), s => s.Replace("\u00AD", ""));
        Add("phone", Rule_phone(), s => s.Replace(' ', '\u00A0').Replace("(", "-LRB-").Replace(")", "-RRB-"));
        Add("dblquote-left", Rule_dblquote_left(), s => LatexQuotes(s, true));
        Add("dblquote", Rule_dblquote(), s => LatexQuotes(s, false));
        Add("plus", Rule_plus(), same);
        Add("percent-amp", Rule_percent_amp(), same);
        Add("tilde-caret", Rule_tilde_caret(), same);
        Add("bar-backslash", Rule_bar_backslash(), same);
        Add("lt-lsb", Rule_lt_lsb(), _ => "<");
        Add("gt-rsb", Rule_gt_rsb(), _ => ">");
        Add("lsb", Rule_lsb(), _ => "-LSB-");
        Add("rsb", Rule_rsb(), _ => "-RSB-");
        Add("lcb", Rule_lcb(), _ => "-LCB-");
        Add("rcb", Rule_rcb(), _ => "-RCB-");
        Add("lrb", Rule_lrb(), _ => "-LRB-");
        Add("rrb", Rule_rrb(), _ => "-RRB-");
        Add("hyphens", Rule_hyphens(), s => s.Length is >= 3 and <= 4 ? "--" : s);
        Add("ldots", Rule_ldots(), _ => "...");
        Add("fnmarks", Rule_fnmarks(), same);
        Add("asts", Rule_asts(), same);
        Add("insentp", Rule_insentp(), same);
        Add("qmark-bang", Rule_qmark_bang(), same);
        Add("period", Rule_period(), same);
        Add("equals", Rule_equals(), same);
        Add("slash", Rule_slash(), same);
        Add("hthing", Rule_hthing(), s => s.Replace("\u00AD", ""));
        Add("thing", Rule_thing(), same);
        Add("thinga", Rule_thinga(), s => s.Replace("&amp;", "&"));
        Add("quote-left", Rule_quote_left(), s => LatexQuotes(s, true));
        Add("redaux", Rule_redaux(), s => LatexQuotes(s, false));
        Add("quotes", Rule_quotes(), s => LatexQuotes(s, false));
        Add("miscsymbol", Rule_miscsymbol(), same);
        Add("space", Rule_space(), _ => null);
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
            if (c is ' ' or '\n') { pos++; continue; }
            // Fast path: a run of ASCII letters and digits that starts with a letter and ends at a
            // space or the end is one token under every rule but "cannot"; followed by one of
            // , ; : ? ! (or a period after a word no abbreviation rule knows) and then a space, it
            // is that word and that punctuation token.
            if (IsAsciiLetter(c))
            {
                int end = pos + 1;
                while (end < n && (IsAsciiLetter(text[end]) || char.IsAsciiDigit(text[end]))) end++;
                bool atBoundary = end == n || text[end] is ' ' or '\n';
                bool punctThenBoundary = end + 1 < n && text[end + 1] is ' ' or '\n' && IsSimplePunctuation(text, pos, end);
                if (atBoundary || punctThenBoundary)
                {
                    AddWord(text, pos, end, tokens);
                    if (punctThenBoundary) { tokens.Add(text[end].ToString()); end++; }
                    pos = end;
                    continue;
                }
            }
            pos = ScanOne(text, pos, tokens);
        }
    }

    static void AddWord(string text, int start, int end, List<string> tokens)
    {
        if (end - start == 6 && string.Compare(text, start, "cannot", 0, 6, StringComparison.OrdinalIgnoreCase) == 0)
        {
            tokens.Add(text.Substring(start, 3).ToLowerInvariant());
            tokens.Add(text.Substring(start + 3, 3).ToLowerInvariant());
        }
        else tokens.Add(text.Substring(start, end - start).ToLowerInvariant());
    }

    /// <summary>Words that some abbreviation rule could keep together with a following period.</summary>
    static readonly HashSet<string> AbbreviationWords = new(
        (AbbrevMonth + "|" + AbbrevDays + "|" + AbbrevState + "|" + AbbrevComp + "|" + AbbrevNum + "|" + AbbrevTitle + "|" + AbbrevComp2 + "|etc|al|seq|vs|alex|wm|jos|cie|cf|treas|jr|sr|bros|blvd|rd|esq|kan|kans|co|cos|pty|ptys|ppty|pptys|wis|wisc|no|nos|dr|drs|prof|profs|sen|sens|rep|reps|atty|attys|gov|govs|st|ste|comdr|cmdr|supt|supts|mfg|mtg")
            .Replace("(?-i:", "").Replace(")", "").Replace("?", "").Split('|').Select(w => w.ToLowerInvariant()),
        StringComparer.OrdinalIgnoreCase);

    static bool IsSimplePunctuation(string text, int wordStart, int wordEnd)
    {
        char p = text[wordEnd];
        if (p is ',' or ';' or ':' or '?' or '!') return true;
        if (p != '.') return false;
        int length = wordEnd - wordStart;
        // Single letters ("b.") and listed abbreviations ("etc.") go through the full lexer.
        return length > 1 && !AbbreviationWords.Contains(text.Substring(wordStart, length));
    }

    static bool IsAsciiLetter(char c) => (uint)((c | 0x20) - 'a') <= 'z' - 'a';

    static int ScanOne(string text, int pos, List<string> tokens)
    {
        Rule? best = null;
        int bestTotal = 0, bestTokenLength = 0;
        foreach (var rule in char.IsLetter(text[pos]) ? LetterRules : Rules)
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

    // One source-generated regex per lexer rule: "\G(?<t>r)" for r, "\G(?<t>r1)(?:r2)" for a rule
    // with trailing context r2 (JFlex compares lengths including r2, then emits r1).
    [GeneratedRegex(@"\G(?<t>" + "(?i:can)" + ")(?:" + "(?i:not)" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_cannot();
    [GeneratedRegex(@"\G(?<t>" + @"&(?:MD|mdash|ndash);|[\u0096\u0097\u2013\u2014\u2015]" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_mdash();
    [GeneratedRegex(@"\G(?<t>" + "&amp;" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_amp();
    [GeneratedRegex(@"\G(?<t>" + Word + ")(?:" + RedAux + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_word_redaux();
    [GeneratedRegex(@"\G(?<t>" + SWord + ")(?:" + SRedAux + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_sword_sredaux();
    [GeneratedRegex(@"\G(?<t>" + Word + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_word();
    [GeneratedRegex(@"\G(?<t>" + Apos + "n" + Apos + "?|[lLdDjJ]" + Apos + "|" + Apos + "(?i:em)|[A-HJ-XZn]" + AposEtc + @"\p{L}{2}\p{L}*|" + Apos + "[2-9]0s|" + Apos + "(?i:till?)|" + @"\p{L}+[aeiouyAEIOUY]" + AposEtc + @"[aeiouA-Z]\p{L}*|" + Apos + "(?i:cause)" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_apoword();
    [GeneratedRegex(@"\G(?<t>" + "[yY]" + Apos + ")(?:" + @"\p{L}" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_apoword2();
    [GeneratedRegex(@"\G(?<t>" + @"https?://[^ \t\n\f\r""<>|()]+[^ \t\n\f\r""<>|.!?(){},-]" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_fullurl();
    [GeneratedRegex(@"\G(?<t>" + RedAux + ")(?:" + "[^A-Za-z]" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_redaux_nonletter();
    [GeneratedRegex(@"\G(?<t>" + SRedAux + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_sredaux();
    [GeneratedRegex(@"\G(?<t>" + D + "{1,2}[-/]" + D + "{1,2}[-/]" + D + "{2,4}" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_date();
    [GeneratedRegex(@"\G(?<t>" + Number + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_number();
    [GeneratedRegex(@"\G(?<t>" + "(?:" + D + @"{1,4}[- \u00A0])?" + D + @"{1,4}(?:\\?/|\u2044)" + D + "{1,4}" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_frac();
    [GeneratedRegex(@"\G(?<t>" + @"[\u00BC\u00BD\u00BE\u2153-\u215E]" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_frac2();
    [GeneratedRegex(@"\G(?<t>" + @"-(?:RRB|LRB|RCB|LCB|RSB|LSB)-|(?i:C\.D\.s|pro-|anti-|S(?:&|&amp;)P-500|S(?:&|&amp;)Ls|Cap" + Apos + "n|c" + Apos + "est)" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_tbspec();
    [GeneratedRegex(@"\G(?<t>" + AlNum + @"+(?:-\p{L}+){0,2}(?:\\?/" + AlNum + @"+(?:-\p{L}+){0,2}){1,2}" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_thing3();
    [GeneratedRegex(@"\G(?<t>" + @"[A-Z]*\$|#" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_dolsign();
    [GeneratedRegex(@"\G(?<t>" + @"[\u00A2\u00A3\u00A4\u00A5\u0080\u20A0\u20AC\u060B\u0E3F\u20A4\uFFE0\uFFE1\uFFE5\uFFE6]" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_dolsign2();
    [GeneratedRegex(@"\G(?<t>" + Abbrev1 + ")(?:" + SpaceNl + "(?:" + SpaceNl + "|[A-Z])" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_abbrev1_sentend();
    [GeneratedRegex(@"\G(?<t>" + Abbrev1 + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_abbrev1();
    [GeneratedRegex(@"\G(?<t>" + Abbrev4 + @"\." + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_abbrev2();
    [GeneratedRegex(@"\G(?<t>" + Abbrev4 + ")(?:" + Space + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_abbrev4_space();
    [GeneratedRegex(@"\G(?<t>" + Acro + ")(?:" + SpaceNl + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_acro();
    [GeneratedRegex(@"\G(?<t>" + Word + @"\." + ")(?:" + "[,;:]" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_word_dot_insentp();
    [GeneratedRegex(@"\G(?<t>" + @"(?:\([0-9]{3}\)[ \u00A0]?|[0-9]{3}[- \u00A0.])[0-9]{3}[- \u00A0.][0-9]{4}" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_phone();
    [GeneratedRegex(@"\G(?<t>" + @"""|&quot;" + ")(?:" + @"[A-Za-z0-9$]" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_dblquote_left();
    [GeneratedRegex(@"\G(?<t>" + @"""|&quot;" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_dblquote();
    [GeneratedRegex(@"\G(?<t>" + @"\+" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_plus();
    [GeneratedRegex(@"\G(?<t>" + @"[%&\u2030\u2031]" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_percent_amp();
    [GeneratedRegex(@"\G(?<t>" + @"[~^]" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_tilde_caret();
    [GeneratedRegex(@"\G(?<t>" + @"[|\\]" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_bar_backslash();
    [GeneratedRegex(@"\G(?<t>" + @"&lt;|<" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_lt_lsb();
    [GeneratedRegex(@"\G(?<t>" + @"&gt;|>" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_gt_rsb();
    [GeneratedRegex(@"\G(?<t>" + @"\[" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_lsb();
    [GeneratedRegex(@"\G(?<t>" + @"\]" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_rsb();
    [GeneratedRegex(@"\G(?<t>" + @"\{" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_lcb();
    [GeneratedRegex(@"\G(?<t>" + @"\}" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_rcb();
    [GeneratedRegex(@"\G(?<t>" + @"\(" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_lrb();
    [GeneratedRegex(@"\G(?<t>" + @"\)" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_rrb();
    [GeneratedRegex(@"\G(?<t>" + "-+" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_hyphens();
    [GeneratedRegex(@"\G(?<t>" + @"\.{3,5}|(?:\.[ \u00A0]){2,4}\.|[\u0085\u2026]" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_ldots();
    [GeneratedRegex(@"\G(?<t>" + "@+|#+|_+" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_fnmarks();
    [GeneratedRegex(@"\G(?<t>" + @"\*+|(?:\\\*){1,3}" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_asts();
    [GeneratedRegex(@"\G(?<t>" + "[,;:]" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_insentp();
    [GeneratedRegex(@"\G(?<t>" + "[?!]+" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_qmark_bang();
    [GeneratedRegex(@"\G(?<t>" + @"[.\u00A1\u00BF\u037E\u0589\u061F\u06D4\u0700-\u0702\u07FA]" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_period();
    [GeneratedRegex(@"\G(?<t>" + "=" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_equals();
    [GeneratedRegex(@"\G(?<t>" + "/" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_slash();
    [GeneratedRegex(@"\G(?<t>" + AlNum + @"[\p{L}\p{M}\p{Nd}.,\u00AD]*(?:-(?:[\p{L}\p{M}\p{Nd}\u00AD]+|" + Acro + @"\.))+" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_hthing();
    [GeneratedRegex(@"\G(?<t>" + "(?:[dDoOlL]" + AposEtc + AlNum + ")?" + AlNum + "+(?:" + Hyphen + "(?:[dDoOlL]" + AposEtc + AlNum + ")?" + AlNum + "+)*" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_thing();
    [GeneratedRegex(@"\G(?<t>" + "[A-Z]+(?:(?:[+&]|&amp;)[A-Z]+)+" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_thinga();
    [GeneratedRegex(@"\G(?<t>" + "'" + ")(?:" + @"[A-Za-z][^ \t\n\r\u00A0]" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_quote_left();
    [GeneratedRegex(@"\G(?<t>" + RedAux + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_redaux();
    [GeneratedRegex(@"\G(?<t>" + Apos + @"|''|[`\u2018\u2019\u201A\u201B\u201C\u201D\u0091\u0092\u0093\u0094\u201E\u201F\u2039\u203A\u00AB\u00BB]{1,2}" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_quotes();
    [GeneratedRegex(@"\G(?<t>" + @"[\u00A6\u00A7\u00A8\u00A9\u00AC\u00AE\u00AF\u00B0-\u00BA\u00D7\u00F7\u0387\u05BE\u05C0\u05C3\u05C6\u05F3\u05F4\u0600-\u0603\u0606-\u060A\u060C\u0614\u061B\u061E\u066A\u066D\u0703-\u070D\u07F6\u07F7\u07F8\u0964\u0965\u0E4F\u2020-\u2023\u2032-\u2038\u2044\u207A-\u207F\u208A-\u208E\u2100-\u214F\u2190-\u21FF\u2200-\u22FF\u2300-\u23FF\u2600-\u26FF\u3012\u30FB\uFF01-\uFF0F\uFF1A-\uFF20\uFF3B-\uFF40\uFF5B-\uFF65]" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_miscsymbol();
    [GeneratedRegex(@"\G(?<t>" + @"[\0 \t\u00A0\u2000-\u200B\u200E\u200F\u3000\uFEFF]+|" + Newline + "|&nbsp;" + ")", RegexOptions.CultureInvariant)]
    private static partial Regex Rule_space();
}
