import { describe, expect, it } from 'vitest';
import { errorText, knownErrorCodes, messages, termLabel, translate, wantedPhotosText } from './i18n';

describe('messages', () => {
  it('English has every key Chinese has, and none is empty', () => {
    expect(Object.keys(messages.en).sort()).toEqual(Object.keys(messages.zh).sort());
    for (const locale of ['zh', 'en'] as const) {
      for (const [key, text] of Object.entries(messages[locale])) expect(text, `${locale}.${key}`).not.toBe('');
    }
  });

  it('Chinese is the words agents use, with placeholders filled', () => {
    expect(translate('zh', 'syncWaiting', { n: 3 })).toBe('3 个工单待同步');
    expect(translate('en', 'syncWaiting', { n: 3 })).toBe('3 visits waiting to sync');
    expect(translate('zh', 'returnedNote', {})).toBe('后台退回：{note}');
    expect(translate('zh', 'photosWifiOnly')).toBe('照片仅在 Wi-Fi 下上传');
    expect(translate('zh', 'photosWaitingWifi', { n: 4 })).toBe('4 张照片等待 Wi-Fi');
  });

  it('Chinese words use full-width punctuation', () => {
    for (const [key, text] of Object.entries(messages.zh)) {
      // A colon, comma or bracket between Chinese words is full-width (URLs and times aside).
      expect(text, key).not.toMatch(/[\u4e00-\u9fff][:,()]|[:,(][\u4e00-\u9fff]/);
    }
    expect(translate('zh', 'ageYears', { n: 10 })).toBe('机龄：10 年');
    expect(translate('zh', 'followUpOn', { day: '2026-11-26' })).toBe('回访：2026-11-26');
    expect(translate('en', 'followUpsToday')).toBe('Follow-ups today');
  });

  it('the same placeholders appear in both languages', () => {
    const names = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const key of Object.keys(messages.zh) as (keyof typeof messages.zh)[]) {
      expect(names(messages.en[key]), key).toEqual(names(messages.zh[key]));
    }
  });
});

describe('domain labels', () => {
  const kinds = [{ code: 'repair', zh: '维修', en: 'Repair' }];
  it('come from the vocabulary in the chosen language, the code when unknown', () => {
    expect(termLabel('zh', kinds, 'repair')).toBe('维修');
    expect(termLabel('en', kinds, 'repair')).toBe('Repair');
    expect(termLabel('zh', kinds, 'drone_survey')).toBe('drone_survey（此版本不认识的值）');
    expect(termLabel('en', kinds, 'drone_survey')).toBe('drone_survey (unknown to this version)');
    expect(termLabel('zh', kinds, null)).toBe('');
  });
});

describe('wanted photos', () => {
  const label = (code: string) => ({ bank_card: '银行卡', account_proof: '账户证明', id_card: '身份证' })[code] ?? code;
  it('either of two kinds reads as "or", the requirements as a list', () => {
    expect(wantedPhotosText('zh', [['id_card'], ['bank_card', 'account_proof']], label)).toBe('身份证、银行卡或账户证明');
    expect(wantedPhotosText('en', [['id_card'], ['bank_card', 'account_proof']], (c) => c)).toBe('id_card, bank_card or account_proof');
    expect(wantedPhotosText('zh', [], label)).toBe('');
  });
});

describe('errors in agent words', () => {
  it('offline says the data is safe on the phone', () => {
    expect(errorText('zh', { code: 'offline', message: 'the server cannot be reached (x)' })).toContain('保存在手机上');
  });

  it('incomplete lists what is missing', () => {
    const text = errorText('zh', { code: 'incomplete', message: '', details: { missing: ['终端机身号', '商户验收签字'] } });
    expect(text).toContain('终端机身号、商户验收签字');
  });

  it('a barcode failure tells the agent what to do next', () => {
    expect(errorText('zh', { code: 'barcode', message: 'no barcode' })).toContain('手动输入');
    expect(errorText('en', { code: 'barcode', message: 'no barcode' })).toContain('type the serial');
  });

  it('an app too old for the server names the version to install, and the data is safe', () => {
    expect(errorText('zh', { code: 'app_too_old', message: '', minimum_app_version: '0.2.0' })).toContain('请将应用更新到 0.2.0 或更高版本后再同步');
    expect(errorText('en', { code: 'app_too_old', message: '', minimum_app_version: '0.2.0' })).toContain('Update the app to 0.2.0 or later to sync');
    expect(errorText('zh', { code: 'app_too_old', message: '', details: { minimum_app_version: '0.3.0' } })).toContain('更新到 0.3.0');
    expect(errorText('zh', { code: 'app_too_old', message: '' })).toContain('请将应用更新到最新版本后再同步');
    expect(errorText('en', { code: 'app_too_old', message: '' })).toContain('Update the app to the newest version to sync');
  });

  it('an expired or revoked credential says to enrol again and that the data is safe', () => {
    for (const code of ['credential_expired', 'credential_revoked']) {
      expect(errorText('zh', { code, message: '' })).toContain('重新绑定');
      expect(errorText('en', { code, message: '' })).toContain('enrol it again');
      expect(errorText('zh', { code, message: '' })).toContain('保存在手机上');
    }
  });

  it('a wrong certificate says someone may impersonate the server, and plain http says https', () => {
    expect(errorText('zh', { code: 'wrong_certificate', message: '' })).toContain('可能有人冒充服务器');
    expect(errorText('en', { code: 'wrong_certificate', message: '' })).toContain('impersonating the server');
    expect(errorText('zh', { code: 'insecure_server', message: '' })).toContain('https://');
    expect(errorText('en', { code: 'insecure_server', message: '' })).toContain('must start with https://');
  });

  it('an unknown code says something went wrong, in Chinese without the English detail', () => {
    expect(errorText('zh', { code: 'strange', message: 'boom' })).toBe('出错了，请重试。已保存的数据不受影响；如果一再出现，请联系后台。');
    expect(errorText('zh', 'plain failure')).not.toContain('plain failure');
    expect(errorText('en', 'plain failure')).toBe('Something went wrong: plain failure');
  });

  it("an invalid input's English reason is shown in English only", () => {
    const error = { code: 'invalid_input', message: 'the expiry date is not valid' };
    expect(errorText('zh', error)).toBe('输入的内容不正确，请检查。');
    expect(errorText('en', error)).toBe('Something entered is not valid: please check. (the expiry date is not valid)');
  });
});

/**
 * Latin words a zh-CN screen may hold: names of things agents see written so
 * (Wi-Fi, ICCID, the SN on the label), units and the language switch.
 */
const latinAllowed = new Set(['Wi-Fi', 'ICCID', 'SN', 'NFC', 'HTTP', 'POS', 'https', 'http', 'posfield', 'English', 'S/N']);

/** The Latin words in a Chinese text that are not allowed: English leaking in, or a raw code. */
function leaks(text: string): string[] {
  const words = text.replace(/\{\w+\}/g, '').match(/[A-Za-z][A-Za-z_./-]*[A-Za-z]|[A-Za-z]/g) ?? [];
  return words.filter((w) => !latinAllowed.has(w));
}

describe('no English in zh-CN', () => {
  it('the leak check finds English and raw codes', () => {
    expect(leaks('改动：outcome.fee_fen')).toEqual(['outcome.fee_fen']);
    expect(leaks('输入的内容不正确（the expiry date is not valid）')).toEqual(['the', 'expiry', 'date', 'is', 'not', 'valid']);
    expect(leaks('照片仅在 Wi-Fi 下上传')).toEqual([]);
  });

  it('every Chinese message', () => {
    for (const [key, text] of Object.entries(messages.zh)) expect(leaks(text), key).toEqual([]);
  });

  it('every error code, with the English message the core gives', () => {
    for (const code of [...knownErrorCodes, 'a_code_from_a_newer_core']) {
      const text = errorText('zh', { code, message: 'the expiry date is not valid', details: { missing: ['签字'] }, minimum_app_version: '1.2.0' });
      expect(leaks(text), code).toEqual([]);
    }
  });
});

describe('counts in English', () => {
  it('one visit, two visits; Chinese needs no plural', () => {
    expect(translate('en', 'visitCount', { n: 1 })).toBe('1 visit on this phone');
    expect(translate('en', 'visitCount', { n: 2 })).toBe('2 visits on this phone');
    expect(translate('en', 'visitCount', { n: 0 })).toBe('0 visits on this phone');
    expect(translate('en', 'offlineState', { n: 1 })).toBe('Offline · saved on the phone · 1 item to send');
    expect(translate('zh', 'offlineState', { n: 1 })).toBe('离线 · 已保存在手机上 · 1 项待上传');
    expect(translate('en', 'visitCount')).toBe('{n} {n|visit|visits} on this phone');
  });

  it('every English count has its plural', () => {
    for (const [key, text] of Object.entries(messages.en)) {
      if (/\{n\} [a-z]+s\b/.test(text) && !/\{n\|/.test(text)) throw new Error(`${key}: "${text}" says "{n} ...s" without a plural`);
    }
  });
});
