using System.Text;
using System.Text.RegularExpressions;

namespace OneDiff.Metrics.Meteor;

/// <summary>
/// Meteor 1.5's English normalisation (<c>-norm</c>): its Moses-derived tokenizer with quote and
/// dash normalisation, dash removal inside words, English contraction splitting and the
/// non-breaking-prefix rule for final dots. Written from Meteor's documented rules; Java regex
/// classes are spelled out (Java's \p{Digit} and \p{Lower} are ASCII-only).
/// </summary>
public static class MeteorNormalizer
{
    const string Alpha = "A-Za-zŠŽšžŸÀ-ÖØ-öø-ž" + "Ѐ-ӿԀ-ԧꙀ-ꙮ꙾-ꚗᴀ-ᵿ";
    const string AlNum = "0-9" + Alpha;
    const RegexOptions Options = RegexOptions.CultureInvariant | RegexOptions.Compiled;

    // Java's regex sees a supplementary character (emoji) as one code point: keep surrogate pairs whole.
    static readonly Regex SeparateOther = new(@"([\uD800-\uDBFF][\uDC00-\uDFFF]|[^" + AlNum + @"\s\.\'\`\,\-\u2018\u2019])", Options);
    static readonly Regex MultiDot = new(@"\.([\.]+)", Options);
    static readonly Regex MultiDot2 = new(@"DOTMULTI\.([^\.])", Options);
    static readonly Regex Comma1 = new("([^0-9])[,]([^0-9])", Options);
    static readonly Regex Comma2 = new("([0-9])[,]([^0-9])", Options);
    static readonly Regex Comma3 = new("([^0-9])[,]([0-9])", Options);
    static readonly Regex SingleQuotes = new("([`\u2018\u2019])", Options);
    static readonly Regex DoubleQuotes = new("([\u201C\u201D]|'')", Options);
    static readonly Regex DashInWord = new("([" + AlNum + @"\.])[\-]([" + AlNum + "])", Options);
    static readonly Regex Contraction1 = new("([^" + Alpha + "])[']([^" + Alpha + "])", Options);
    static readonly Regex Contraction2 = new("([^" + Alpha + "0-9])[']([" + Alpha + "])", Options);
    static readonly Regex Contraction3 = new("([" + Alpha + "])[']([^" + Alpha + "])", Options);
    static readonly Regex Contraction4 = new("([" + Alpha + "])[']([" + Alpha + "])", Options);
    static readonly Regex Contraction5 = new("([0-9])[']([s])", Options);
    static readonly Regex PrefixHasLetter = new("[" + Alpha + "]", Options);
    static readonly Regex White = new("[ \u00A0\u1680\u180E\u2000-\u200A\u202F\u205F\u3000]+", Options);
    static bool IsPlain(string line)
    {
        foreach (char c in line)
            if (!(char.IsAsciiLetterOrDigit(c) || c == ' ')) return false;
        return true;
    }

    static readonly char[] JavaWhitespace = [' ', '\t', '\n', '\r', '\f'];

    /// <summary>Moses English non-breaking prefixes that can occur in lower-cased text (type: any, or
    /// numbers-only), as Meteor 1.5 ships them.</summary>
    static readonly Dictionary<string, bool> NonBreakingPrefixes = new(StringComparer.Ordinal)
    {
        ["v"] = false, ["vs"] = false, ["i.e"] = false, ["rev"] = false, ["e.g"] = false, ["pp"] = true,
    };

    public static string Normalize(string line)
    {
        // Plain words (what PTB tokenisation mostly leaves) pass every rule unchanged.
        if (IsPlain(line)) return string.Join(' ', line.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        string s = " " + line + " ";
        s = SeparateOther.Replace(s, " $1 ");
        s = MultiDot.Replace(s, " DOTMULTI$1");
        while (s.Contains("DOTMULTI.", StringComparison.Ordinal))
        {
            s = MultiDot2.Replace(s, "DOTDOTMULTI $1");
            s = s.Replace("DOTMULTI.", "DOTDOTMULTI", StringComparison.Ordinal);
        }
        s = Comma1.Replace(s, "$1 , $2");
        s = Comma2.Replace(s, "$1 , $2");
        s = Comma3.Replace(s, "$1 , $2");
        s = SingleQuotes.Replace(s, "'");
        s = DoubleQuotes.Replace(s, " \" ");
        s = s.Replace("\u2013", "-", StringComparison.Ordinal).Replace("--", "-", StringComparison.Ordinal);
        s = DashInWord.Replace(s, "$1 $2");
        s = Contraction1.Replace(s, "$1 ' $2");
        s = Contraction2.Replace(s, "$1 ' $2");
        s = Contraction3.Replace(s, "$1 ' $2");
        s = Contraction4.Replace(s, "$1 '$2");
        s = Contraction5.Replace(s, "$1 '$2");

        var words = s.Split(JavaWhitespace, StringSplitOptions.RemoveEmptyEntries);
        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < words.Length; i++)
        {
            string w = words[i];
            if (w.Length > 1 && w.EndsWith('.'))
            {
                string pre = w[..^1];
                bool known = NonBreakingPrefixes.TryGetValue(pre, out bool numericOnly);
                string? next = i < words.Length - 1 ? words[i + 1] : null;
                if (pre.Contains('.') && PrefixHasLetter.IsMatch(pre)) sb.Append(w.Replace(".", "", StringComparison.Ordinal));
                else if ((known && !numericOnly) || (next is not null && next[0] is >= 'a' and <= 'z')) sb.Append(w);
                else if (known && numericOnly && next is not null && next[0] is >= '0' and <= '9') sb.Append(w);
                else sb.Append(pre).Append(" .");
            }
            else sb.Append(w);
            sb.Append(' ');
        }
        s = sb.ToString();
        while (s.Contains("DOTDOTMULTI", StringComparison.Ordinal)) s = s.Replace("DOTDOTMULTI", "DOTMULTI.", StringComparison.Ordinal);
        s = s.Replace("DOTMULTI", ".", StringComparison.Ordinal);
        return White.Replace(s, " ").Trim();
    }
}
