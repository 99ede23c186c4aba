using System.Text;

namespace OneDiff.Metrics.Meteor;

/// <summary>
/// The Snowball English ("Porter2") stemmer, the one Meteor 1.5's stem module runs. Written from
/// the Snowball algorithm description (exceptions, R1/R2 regions, steps 0-5).
/// </summary>
public static class SnowballEnglishStemmer
{
    static readonly Dictionary<string, string> Exception1 = new(StringComparer.Ordinal)
    {
        ["skis"] = "ski", ["skies"] = "sky", ["dying"] = "die", ["lying"] = "lie", ["tying"] = "tie",
        ["idly"] = "idl", ["gently"] = "gentl", ["ugly"] = "ugli", ["early"] = "earli", ["only"] = "onli",
        ["singly"] = "singl", ["sky"] = "sky", ["news"] = "news", ["howe"] = "howe", ["atlas"] = "atlas",
        ["cosmos"] = "cosmos", ["bias"] = "bias", ["andes"] = "andes",
    };

    static readonly HashSet<string> Exception2 = new(StringComparer.Ordinal)
    { "inning", "outing", "canning", "herring", "earring", "proceed", "exceed", "succeed" };

    static bool IsVowel(char c) => c is 'a' or 'e' or 'i' or 'o' or 'u' or 'y';

    public static string Stem(string word)
    {
        if (Exception1.TryGetValue(word, out var exception)) return exception;
        if (word.Length < 3) return word;

        var w = new StringBuilder(word);
        // Prelude: drop an initial apostrophe; mark consonant-y as Y.
        if (w.Length > 0 && w[0] == '\'') w.Remove(0, 1);
        if (w.Length > 0 && w[0] == 'y') w[0] = 'Y';
        for (int i = 1; i < w.Length; i++)
            if (w[i] == 'y' && IsVowel(w[i - 1])) w[i] = 'Y';

        int p1 = w.Length, p2 = w.Length;
        MarkRegions(w, ref p1, ref p2);

        Step0(w);
        Step1a(w);
        if (!Exception2.Contains(w.ToString()))
        {
            Step1b(w, p1);
            Step1c(w);
            Step2(w, p1);
            Step3(w, p1, p2);
            Step4(w, p2);
            Step5(w, p1, p2);
        }
        return w.ToString().Replace('Y', 'y');
    }

    static void MarkRegions(StringBuilder w, ref int p1, ref int p2)
    {
        string s = w.ToString();
        int start;
        if (s.StartsWith("gener", StringComparison.Ordinal) || s.StartsWith("arsen", StringComparison.Ordinal)) start = 5;
        else if (s.StartsWith("commun", StringComparison.Ordinal)) start = 6;
        else
        {
            start = AfterVowelThenConsonant(s, 0);
            if (start < 0) return;
        }
        p1 = start;
        int r2 = AfterVowelThenConsonant(s, p1);
        if (r2 >= 0) p2 = r2;
    }

    /// <summary>Position after the first non-vowel that follows a vowel, from <paramref name="from"/>; -1 if none.</summary>
    static int AfterVowelThenConsonant(string s, int from)
    {
        int i = from;
        while (i < s.Length && !IsVowel(s[i])) i++;
        if (i >= s.Length) return -1;
        while (i < s.Length && IsVowel(s[i])) i++;
        if (i >= s.Length) return -1;
        return i + 1;
    }

    static bool EndsWith(StringBuilder w, string suffix)
    {
        if (w.Length < suffix.Length) return false;
        for (int i = 0; i < suffix.Length; i++)
            if (w[w.Length - suffix.Length + i] != suffix[i]) return false;
        return true;
    }

    static string? LongestSuffix(StringBuilder w, string[] suffixes)
    {
        string? best = null;
        foreach (var s in suffixes)
            if ((best is null || s.Length > best.Length) && EndsWith(w, s)) best = s;
        return best;
    }

    static void Replace(StringBuilder w, string suffix, string with)
    {
        w.Length -= suffix.Length;
        w.Append(with);
    }

    static bool ContainsVowel(StringBuilder w, int end)
    {
        for (int i = 0; i < end; i++) if (IsVowel(w[i])) return true;
        return false;
    }

    /// <summary>Short syllable ending at <paramref name="end"/> (exclusive).</summary>
    static bool ShortSyllableAt(StringBuilder w, int end)
    {
        if (end >= 3)
        {
            char a = w[end - 3], b = w[end - 2], c = w[end - 1];
            if (!IsVowel(a) && IsVowel(b) && !IsVowel(c) && c != 'w' && c != 'x' && c != 'Y') return true;
        }
        if (end == 2) return IsVowel(w[0]) && !IsVowel(w[1]);
        return false;
    }

    static void Step0(StringBuilder w)
    {
        var s = LongestSuffix(w, ["'", "'s", "'s'"]);
        if (s is not null) w.Length -= s.Length;
    }

    static void Step1a(StringBuilder w)
    {
        var s = LongestSuffix(w, ["sses", "ied", "ies", "s", "us", "ss"]);
        switch (s)
        {
            case "sses": Replace(w, s, "ss"); break;
            case "ied" or "ies": Replace(w, s, w.Length - s.Length >= 2 ? "i" : "ie"); break;
            case "s":
                // Delete if a vowel occurs before the letter preceding the s.
                if (ContainsVowel(w, w.Length - 2)) w.Length -= 1;
                break;
        }
    }

    static void Step1b(StringBuilder w, int p1)
    {
        var s = LongestSuffix(w, ["eed", "eedly", "ed", "edly", "ing", "ingly"]);
        if (s is null) return;
        int start = w.Length - s.Length;
        if (s is "eed" or "eedly")
        {
            if (start >= p1) Replace(w, s, "ee");
            return;
        }
        if (!ContainsVowel(w, start)) return;
        w.Length = start;
        if (EndsWith(w, "at") || EndsWith(w, "bl") || EndsWith(w, "iz")) w.Append('e');
        else if (w.Length >= 2 && w[^1] == w[^2] && w[^1] is 'b' or 'd' or 'f' or 'g' or 'm' or 'n' or 'p' or 'r' or 't') w.Length -= 1;
        else if (w.Length == p1 && ShortSyllableAt(w, w.Length)) w.Append('e');
    }

    static void Step1c(StringBuilder w)
    {
        if (w.Length < 3) return;
        char last = w[^1];
        if ((last == 'y' || last == 'Y') && !IsVowel(w[^2])) w[^1] = 'i';
    }

    static readonly string[] Step2Suffixes =
    [
        "tional", "enci", "anci", "abli", "entli", "izer", "ization", "ational", "ation", "ator", "alism", "aliti", "alli",
        "fulness", "ousli", "ousness", "iveness", "iviti", "biliti", "bli", "ogi", "fulli", "lessli", "li",
    ];

    static void Step2(StringBuilder w, int p1)
    {
        var s = LongestSuffix(w, Step2Suffixes);
        if (s is null || w.Length - s.Length < p1) return;
        switch (s)
        {
            case "tional": Replace(w, s, "tion"); break;
            case "enci": Replace(w, s, "ence"); break;
            case "anci": Replace(w, s, "ance"); break;
            case "abli": Replace(w, s, "able"); break;
            case "entli": Replace(w, s, "ent"); break;
            case "izer" or "ization": Replace(w, s, "ize"); break;
            case "ational" or "ation" or "ator": Replace(w, s, "ate"); break;
            case "alism" or "aliti" or "alli": Replace(w, s, "al"); break;
            case "fulness": Replace(w, s, "ful"); break;
            case "ousli" or "ousness": Replace(w, s, "ous"); break;
            case "iveness" or "iviti": Replace(w, s, "ive"); break;
            case "biliti" or "bli": Replace(w, s, "ble"); break;
            case "ogi":
                if (w.Length - 3 >= 1 && w[w.Length - 4] == 'l') Replace(w, s, "og");
                break;
            case "fulli": Replace(w, s, "ful"); break;
            case "lessli": Replace(w, s, "less"); break;
            case "li":
                if (w.Length >= 3 && w[w.Length - 3] is 'c' or 'd' or 'e' or 'g' or 'h' or 'k' or 'm' or 'n' or 'r' or 't') w.Length -= 2;
                break;
        }
    }

    static void Step3(StringBuilder w, int p1, int p2)
    {
        var s = LongestSuffix(w, ["tional", "ational", "alize", "icate", "iciti", "ical", "ful", "ness", "ative"]);
        if (s is null || w.Length - s.Length < p1) return;
        switch (s)
        {
            case "tional": Replace(w, s, "tion"); break;
            case "ational": Replace(w, s, "ate"); break;
            case "alize": Replace(w, s, "al"); break;
            case "icate" or "iciti" or "ical": Replace(w, s, "ic"); break;
            case "ful" or "ness": w.Length -= s.Length; break;
            case "ative":
                if (w.Length - s.Length >= p2) w.Length -= s.Length;
                break;
        }
    }

    static readonly string[] Step4Suffixes =
        ["al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ism", "ate", "iti", "ous", "ive", "ize", "ion"];

    static void Step4(StringBuilder w, int p2)
    {
        var s = LongestSuffix(w, Step4Suffixes);
        if (s is null || w.Length - s.Length < p2) return;
        if (s == "ion")
        {
            int before = w.Length - 4;
            if (before >= 0 && w[before] is 's' or 't') w.Length -= 3;
            return;
        }
        w.Length -= s.Length;
    }

    static void Step5(StringBuilder w, int p1, int p2)
    {
        if (w.Length == 0) return;
        int start = w.Length - 1;
        if (w[^1] == 'e')
        {
            if (start >= p2 || (start >= p1 && !ShortSyllableAt(w, start))) w.Length -= 1;
        }
        else if (w[^1] == 'l')
        {
            if (start >= p2 && start >= 1 && w[start - 1] == 'l') w.Length -= 1;
        }
    }
}
